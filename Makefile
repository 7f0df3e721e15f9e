# `make demo` and `make test` each do the whole set-up first (scripts/setup.sh).
.PHONY: setup build lint demo test test-unit bench install uninstall deb

setup:
	bash scripts/setup.sh

build:
	npm run build

lint:
	npx eslint . && npx prettier --check .
	shellcheck -s sh src/stage1/oci/supervisor.sh
	shellcheck -s sh -x bin/rkt src/stage1/oci/fast.sh
	shellcheck -s sh src/stage1/nspawn/chroot.sh
	perl -cw src/stage1/nspawn/launch.pl
	shellcheck -s sh src/stage1/kvm/guest-init.sh

demo: setup
	bash scripts/demo.sh

test: setup lint
	node --test --test-reporter=spec dist/test/unit dist/test/integration

test-unit: build
	node --test dist/test/unit

bench: setup
	bash bench/run.sh

# Installation (docs/install.md). The built tree goes to $(PREFIX)/lib/rocket, the commands are linked
# into $(PREFIX)/bin; rkt's config dirs are /etc/rkt and /usr/lib/rkt whatever PREFIX is (they are
# the defaults of --local-config and --system-config). DESTDIR stages it all under another root.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
RKTLIBDIR ?= /usr/lib/rkt
INSTALL_FLAGS = --destdir=$(DESTDIR) --prefix=$(PREFIX) --sysconfdir=$(SYSCONFDIR) --rktlibdir=$(RKTLIBDIR) \
	$(if $(UNITDIR),--unitdir=$(UNITDIR)) $(if $(ZSHDIR),--zshdir=$(ZSHDIR))

install: dist/man/man1/rkt.1
	node scripts/install.mjs install $(INSTALL_FLAGS)

uninstall:
	node scripts/install.mjs uninstall $(INSTALL_FLAGS)

# The built tree (`make build`); built here only when there is none, so that installing never
# rebuilds what tests may be running from.
dist/man/man1/rkt.1:
	npm run build

# A Debian package of `make install PREFIX=/usr`, built with dpkg-deb into $(DEBDIR) (dist/deb).
DEBDIR ?= dist/deb
deb: dist/man/man1/rkt.1
	DEBDIR=$(DEBDIR) bash scripts/deb.sh
