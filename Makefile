# clawfleet: one binary, build/clawfleet. pkg-config for every library; automatic header
# dependencies (-MMD). BUILD lets several trees (sanitizers, parallel work) coexist.
BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
CFLAGS  ?= -O2 -g
SAN     ?=

PKGS      := libgit2 yaml-0.1 json-c libcurl openssl libmicrohttpd
TEST_PKGS := cmocka
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
GIT_VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) -Icontroller -I. \
	-I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
LDLIBS = $(PKG_LIBS) -lpthread -lm

SRCS     := $(sort $(wildcard controller/*.c controller/*/*.c reconcilers/*.c reconcilers/*/*.c))
LIB_SRCS := $(filter-out controller/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/crds.o $(BUILD)/obj/gen/buildinfo.o
MAIN_OBJ := $(BUILD)/obj/controller/main.o
BIN      := $(BUILD)/clawfleet

UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(sort $(wildcard hack/bench/*.c))
BENCH_BINS := $(BENCH_SRCS:hack/bench/%.c=$(BUILD)/bench/%)
SIM_SRCS   := $(sort $(wildcard hack/sim/*.c))
SIM_BINS   := $(SIM_SRCS:hack/sim/%.c=$(BUILD)/sim/%)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
CRD_FILES  := $(sort $(wildcard crds/*.yaml))

.PHONY: all test test-run check check-macos demo demo-ha bench install uninstall clean deps demo-deps layers fuzz \
	fuzz-bins
all: $(BIN) $(SIM_BINS)

$(BIN): $(MAIN_OBJ) $(BUILD)/lib.a
	$(CC) $(ALL_CFLAGS) -o $@ $(MAIN_OBJ) $(BUILD)/lib.a $(LDLIBS)

$(BUILD)/lib.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The CRDs are compiled into the binary: they are the schema clawfleet validates against.
$(BUILD)/tools/embed: hack/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 $(WARN) -o $@ $<

# The list of CRD files, rewritten only when it changes, so that a CRD removed from crds/ (which
# changes no remaining file's time) still rebuilds the embedded schemas.
$(BUILD)/gen/crds.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(CRD_FILES)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/gen/crds.c: $(BUILD)/tools/embed $(CRD_FILES) $(BUILD)/gen/crds.list
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed crd_files $(CRD_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/buildinfo.c: FORCE
	@mkdir -p $(dir $@)
	@printf 'const char clawfleet_version[] = "%s";\nconst char clawfleet_build_cc[] = "%s";\n' \
		'$(GIT_VERSION)' '$(notdir $(CC))' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
.PHONY: FORCE

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -o $@ $< $(BUILD)/lib.a $(TEST_LIBS) $(LDLIBS)

$(BUILD)/bench/%: hack/bench/%.c $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/lib.a $(LDLIBS)

$(BUILD)/sim/%: hack/sim/%.c $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/lib.a $(LDLIBS)

# libFuzzer targets: the library instrumented for coverage (fuzzer-no-link), the harness linked
# with libFuzzer's main.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/lib.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/lib.a $(LDLIBS)

# A fresh machine: install what pkg-config (or the integration tests) cannot find. The browser
# is any Chromium-family one hack/browser.sh finds (Google Chrome on a Mac).
deps:
	@pkg-config --exists $(PKGS) $(TEST_PKGS) && command -v git >/dev/null \
		&& command -v haproxy >/dev/null && command -v python3 >/dev/null \
		&& hack/browser.sh >/dev/null 2>&1 && command -v promtool >/dev/null \
		&& command -v socat >/dev/null && command -v etcd >/dev/null \
		|| hack/install-deps.sh

# What make demo needs, no more: no browser, promtool or test library. Its scripts run under
# macOS's own bash 3.2 and BSD tools (hack/macos_shell_check.sh, run by make test, guards that).
demo-deps:
	@pkg-config --exists $(PKGS) && command -v git >/dev/null && command -v curl >/dev/null \
		&& command -v haproxy >/dev/null && command -v python3 >/dev/null \
		|| hack/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory layers test-run

# The include graph follows the pipeline: no file includes a header of a later step.
layers:
	@hack/layers.sh

test-run: $(BIN) $(SIM_BINS) $(BENCH_BINS) $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run

# An allocation over a memory limit (the fetch child's RLIMIT_AS) returns NULL under the
# sanitizers as it does without them, instead of aborting, so the child can say what it was;
# hack/lsan.supp names the leaks that are the libraries' own.
check: deps
	@ASAN_OPTIONS=allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$(CURDIR)/hack/lsan.supp \
	$(MAKE) --no-print-directory BUILD=build/san CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test-run

# Every C file compiled for aarch64-macos.13.0 with the project's warnings, by the pinned Zig
# (installed once under $(BUILD)/zig) against the libraries' headers only; it also proves that a
# planted pipe2() call fails. See README "Portability" and hack/check-macos.sh.
check-macos:
	@BUILD=$(BUILD) hack/check-macos.sh

# The fuzz targets in their own tree (clang, libFuzzer, ASan, UBSan), each then run for
# FUZZ_SECONDS on its corpus in tests/fuzz/<name>/ (0: build only). See README "Fuzzing".
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 10
fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
		CFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" fuzz-bins
	@BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-bins: $(FUZZ_BINS)

demo: demo-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) hack/demo.sh

# Three controller replicas on a three-member etcd cluster, the leader killed mid-rollout
# (README "High availability"); etcd comes from hack/install-deps.sh.
demo-ha: demo-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) hack/demo-ha.sh

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@BUILD=$(BUILD) hack/bench/run.sh

# make install: the binary, its man page, the launchd jobs, example configurations and the
# HAProxy configuration (README "Installing on a Mac fleet"). DESTDIR stages the tree for a
# package; the installed files name the PREFIX paths, never DESTDIR. A configuration already in
# SYSCONFDIR/clawfleet is never replaced. The controller and the notifier are LaunchDaemons,
# installed on macOS only (LAUNCHDAEMONSDIR=DIR stages them anywhere, empty leaves them out);
# the agent is a LaunchAgent of the gateway's user, so its plist waits in DATADIR/launchd for
# that user to copy. The files in manifests/ name the default PREFIX: RELOCATE rewrites them.
BINDIR        ?= $(PREFIX)/bin
MANDIR        ?= $(PREFIX)/share/man
DATADIR       ?= $(PREFIX)/share/clawfleet
SYSCONFDIR    ?= $(PREFIX)/etc
LOCALSTATEDIR ?= $(PREFIX)/var
LAUNCHDAEMONSDIR ?= $(if $(filter Darwin,$(shell uname -s)),/Library/LaunchDaemons)
INSTALL       ?= install
INSTALL_GEN   := $(BUILD)/install
INSTALL_ROLES := controller agent notifier
RELOCATE = sed -e 's|/usr/local/bin/clawfleet|$(BINDIR)/clawfleet|g' \
	-e 's|/usr/local/etc/clawfleet|$(SYSCONFDIR)/clawfleet|g' \
	-e 's|/usr/local/share/clawfleet|$(DATADIR)|g' -e 's|/usr/local/var/|$(LOCALSTATEDIR)/|g'

install: $(BIN)
	@rm -rf $(INSTALL_GEN) && mkdir -p $(INSTALL_GEN)
	@for f in docs/clawfleet.1 manifests/launchd/*.plist manifests/config/*.yaml; do \
		$(RELOCATE) $$f > $(INSTALL_GEN)/$${f##*/} || exit 1; \
	done
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/examples \
		$(DESTDIR)$(DATADIR)/launchd $(DESTDIR)$(DATADIR)/haproxy $(DESTDIR)$(SYSCONFDIR)/clawfleet
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/clawfleet
	$(INSTALL) -m 0644 $(INSTALL_GEN)/clawfleet.1 $(DESTDIR)$(MANDIR)/man1/clawfleet.1
	$(INSTALL) -m 0644 $(INSTALL_GEN)/ai.clawfleet.agent.plist $(DESTDIR)$(DATADIR)/launchd/
	$(INSTALL) -m 0644 manifests/haproxy/haproxy.cfg $(DESTDIR)$(DATADIR)/haproxy/
	$(INSTALL) -m 0644 $(INSTALL_ROLES:%=$(INSTALL_GEN)/%.yaml) $(DESTDIR)$(DATADIR)/examples/
	@for role in $(INSTALL_ROLES); do \
		conf=$(DESTDIR)$(SYSCONFDIR)/clawfleet/$$role.yaml; \
		if [ -e "$$conf" ] || [ -L "$$conf" ]; then echo "kept $$conf: it exists"; \
		else echo "$(INSTALL) -m 0600 $(INSTALL_GEN)/$$role.yaml $$conf"; \
			$(INSTALL) -m 0600 $(INSTALL_GEN)/$$role.yaml "$$conf" || exit 1; fi; \
	done
ifneq ($(LAUNCHDAEMONSDIR),)
	$(INSTALL) -d $(DESTDIR)$(LAUNCHDAEMONSDIR)
	$(INSTALL) -m 0644 $(INSTALL_GEN)/ai.clawfleet.controller.plist \
		$(INSTALL_GEN)/ai.clawfleet.notifier.plist $(DESTDIR)$(LAUNCHDAEMONSDIR)/
endif

# Removes what install put there. A configuration is removed only while it is the example
# unchanged; an edited one stays, and so do the directories still holding something.
uninstall:
	@for role in $(INSTALL_ROLES); do \
		conf=$(DESTDIR)$(SYSCONFDIR)/clawfleet/$$role.yaml; \
		if cmp -s "$$conf" $(DESTDIR)$(DATADIR)/examples/$$role.yaml; then rm -f "$$conf"; \
		elif [ -e "$$conf" ]; then echo "kept $$conf: it differs from the example"; fi; \
	done
	rm -f $(DESTDIR)$(BINDIR)/clawfleet $(DESTDIR)$(MANDIR)/man1/clawfleet.1 \
		$(DESTDIR)$(DATADIR)/launchd/ai.clawfleet.agent.plist \
		$(DESTDIR)$(DATADIR)/haproxy/haproxy.cfg \
		$(INSTALL_ROLES:%=$(DESTDIR)$(DATADIR)/examples/%.yaml)
	-rmdir $(DESTDIR)$(DATADIR)/examples $(DESTDIR)$(DATADIR)/launchd \
		$(DESTDIR)$(DATADIR)/haproxy $(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSCONFDIR)/clawfleet \
		2>/dev/null
ifneq ($(LAUNCHDAEMONSDIR),)
	rm -f $(DESTDIR)$(LAUNCHDAEMONSDIR)/ai.clawfleet.controller.plist \
		$(DESTDIR)$(LAUNCHDAEMONSDIR)/ai.clawfleet.notifier.plist
endif

clean:
	rm -rf build build-*

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz -name '*.d' 2>/dev/null)
