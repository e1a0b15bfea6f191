(function () {
  'use strict';
  function value(row, idx) {
    var cell = row.cells[idx];
    if (!cell) { return ''; }
    var key = cell.getAttribute('data-sort');
    return key === null ? cell.textContent.trim() : key;
  }
  function sortTable(table, th, idx) {
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    var numeric = th.getAttribute('data-type') === 'num';
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute('aria-sort'); }
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, idx), y = value(b, idx), r;
      if (numeric) { r = (parseFloat(x) || 0) - (parseFloat(y) || 0); }
      else { r = x.localeCompare(y); }
      if (r === 0) { r = Number(a.getAttribute('data-i')) - Number(b.getAttribute('data-i')); return r; }
      return ascending ? r : -r;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (row) { frag.appendChild(row); });
    body.appendChild(frag);
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, idx) {
      var button = th.querySelector('button');
      if (button) { button.addEventListener('click', function () { sortTable(table, th, idx); }); }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('input[data-filter]'), function (input) {
    var table = document.getElementById(input.getAttribute('data-filter'));
    input.addEventListener('input', function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== '' && row.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  });
}());
