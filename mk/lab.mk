# Test lab: systemd images for the Molecule scenarios (included by the Makefile).
#
#   make lab-images        build the lab images when missing or out of date (cached
#                          under $(LAB_CACHE), outside the checkout)
#   make lab-images-force  rebuild them from scratch
#   make lab-clean         remove lab containers, images and the cache
#
# Every target of the Makefile runs podman with the project's configuration.

LAB_DIR := $(ROOT)/tests/lab
export CONTAINERS_CONF := $(LAB_DIR)/containers.conf
export REAPER_LAB_CACHE ?= /var/cache/reaper-systemd-lab
LAB_CACHE := $(REAPER_LAB_CACHE)
LAB_TAGS := bookworm trixie bookworm-nopsutil

.PHONY: lab-images lab-images-force lab-clean

lab-images:
	@if bash "$(LAB_DIR)/build-images.sh" --check; then \
		echo "lab-images: localhost/reaper-lab:{$(LAB_TAGS)} current (cache $(LAB_CACHE))"; \
	else \
		bash "$(LAB_DIR)/build-images.sh"; \
	fi

lab-images-force:
	bash "$(LAB_DIR)/build-images.sh" --force

lab-clean:
	@ids=""; for t in $(LAB_TAGS); do \
		ids="$$ids $$(podman ps -aq --filter ancestor=localhost/reaper-lab:$$t 2>/dev/null || true)"; \
	done; \
	ids=$$(echo $$ids | tr ' ' '\n' | sort -u | tr '\n' ' '); ids=$${ids% }; \
	if [[ -n "$$ids" ]]; then podman rm -f -t 0 $$ids >/dev/null; echo "lab-clean: removed containers $$ids"; fi
	@for t in $(LAB_TAGS); do \
		if podman image exists localhost/reaper-lab:$$t 2>/dev/null; then \
			podman rmi -f localhost/reaper-lab:$$t >/dev/null && echo "lab-clean: removed image localhost/reaper-lab:$$t"; \
		fi; \
	done
	@bash "$(LAB_DIR)/nspawn-machine.sh" destroy-all || true
	rm -rf --one-file-system "$(LAB_CACHE)"
