# instagram-graph: build, test, lint, install.
#   make                 build the C core for Lua 5.4 (build/lua5.4/instagram/core.so)
#   make LUA=luajit      build it for LuaJIT / OpenResty (Lua 5.1 API)
#   make test            install what is missing, then run every check on both runtimes
#   make demo            install what is missing, start the emulator, run examples/demo.lua
#   make doc             the API reference (LDoc, config.ld) in build/doc/index.html; fails on any warning
#   make deps            install only what building and using the library needs (LUA=luajit for LuaJIT)
#   make release-check   lint the rockspecs, check that every version number agrees
LUA        ?= lua5.4
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
PKG_CONFIG ?= pkg-config

ifeq ($(LUA),luajit)
  LUA_PC  := luajit
  LUA_ABI := 5.1
else
  LUA_PC  := lua5.4
  LUA_ABI := 5.4
endif

LUA_CFLAGS  = $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
DEP_CFLAGS  = $(shell $(PKG_CONFIG) --cflags libcurl libcrypto libssl)
DEP_LIBS    = $(shell $(PKG_CONFIG) --libs libcurl libcrypto libssl)
WARN        = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
              -Werror=implicit-function-declaration
CFLAGS     ?= -O2 -g
ALL_CFLAGS  = -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) $(LUA_CFLAGS) $(DEP_CFLAGS)
LDFLAGS    ?=
# A Lua C module takes the Lua API from the host process: never link liblua into it.
SO_LDFLAGS  = -shared $(LDFLAGS)

LMOD_DIR   ?= $(PREFIX)/share/lua/$(LUA_ABI)
CMOD_DIR   ?= $(PREFIX)/lib/lua/$(LUA_ABI)

SRC     := $(wildcard src/*.c)
HDR     := $(wildcard src/*.h)
BUILD   ?= build/$(LUA)
OBJ     := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRC))
SO      := $(BUILD)/instagram/core.so
LUA_SRC := $(shell find lua -name '*.lua')

.PHONY: all both deps demo-deps test-deps bench-deps release-check test demo lint doc install uninstall clean clean-objs emulator-start emulator-stop sanitize fuzz bench

all: $(SO)

$(BUILD)/obj/%.o: src/%.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SO): $(OBJ)
	@mkdir -p $(@D)
	$(CC) $(SO_LDFLAGS) -o $@ $(OBJ) $(DEP_LIBS)

both:
	$(MAKE) LUA=lua5.4
	$(MAKE) LUA=luajit

# Install the Debian packages that are missing (nothing when all are present), per use: the library
# alone (deps), the emulator for the demo, test tooling, bench comparisons. See .ci/deps.
deps:
	@IG_LUA=$(LUA) sh .ci/deps runtime

demo-deps:
	@sh .ci/deps demo

test-deps:
	@sh .ci/deps test

bench-deps:
	@sh .ci/deps bench

test: test-deps
	$(MAKE) both
	@bash spec/run

demo: demo-deps
	$(MAKE) LUA=lua5.4
	@bash examples/run-demo

lint: test-deps
	luacheck --no-color lua spec examples emulator bench
	$(MAKE) clean-objs LUA=lua5.4
	$(MAKE) LUA=lua5.4 CFLAGS="-O2 -g -Werror"
	$(MAKE) clean-objs LUA=luajit
	$(MAKE) LUA=luajit CFLAGS="-O2 -g -Werror"

# The API reference from the doc comments (config.ld says how to write them). LDoc exits 0 on warnings:
# its output is kept in build/doc.log, and any line but its usual notes (config read, the C files merged
# into instagram.core, output written) fails the target, as do a non-zero exit (--fatalwarnings) and a
# missing index.html.
doc:
	@command -v ldoc >/dev/null 2>&1 || { echo "make doc: ldoc not found (Debian: lua-ldoc; sh .ci/deps test)" >&2; exit 1; }
	@mkdir -p build
	@rm -rf build/doc
	@ldoc --fatalwarnings -c config.ld . > build/doc.log 2>&1; rc=$$?; cat build/doc.log; \
	  bad=$$(grep -v -E '^(reading configuration from config\.ld|output written to .*build/doc/?|found master module[[:space:]]+.*src/core\.c|\*\*\*closing section from master module\*\*\*)$$' \
	    build/doc.log); \
	  if [ $$rc -ne 0 ] || [ -n "$$bad" ] || [ ! -s build/doc/index.html ]; then \
	    echo "make doc: FAILED: LDoc exited $$rc and printed $$(printf '%s\n' "$$bad" | grep -c .) warning line(s)" >&2; \
	    if printf '%s\n' "$$bad" | grep -q 'markdown not found'; then \
	      echo "make doc: LDoc needs lua-markdown for format = \"markdown\" (apt-get install lua-markdown)" >&2; fi; \
	    exit 1; fi; \
	  echo "make doc: build/doc/index.html, 0 warnings"

# Lints the rockspecs and checks that the versioned rockspec, src/core.h, CHANGELOG.md and LICENSE agree.
release-check:
	@bash rockspec/release-check

emulator-start:
	@emulator/run start

emulator-stop:
	@emulator/run stop

install: $(SO)
	install -d $(DESTDIR)$(CMOD_DIR)/instagram $(DESTDIR)$(LMOD_DIR)
	install -m 0755 $(SO) $(DESTDIR)$(CMOD_DIR)/instagram/core.so
	cd lua && find instagram -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(LMOD_DIR)/{} \;

uninstall:
	rm -f $(DESTDIR)$(CMOD_DIR)/instagram/core.so
	rm -rf $(DESTDIR)$(LMOD_DIR)/instagram

# The C core with AddressSanitizer and UndefinedBehaviorSanitizer (gcc), and the C-core specs on it.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
sanitize:
	$(MAKE) BUILD=build/asan CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" all
	@bash spec/sanitize

# Benchmarks (bench/run): the table is printed and written to build/bench/results.md.
bench: bench-deps
	$(MAKE) both
	@bash bench/run

# libFuzzer targets (clang) for what the core parses or encodes, FUZZ_SECONDS each (default 20).
fuzz:
	@bash spec/fuzz/run

clean-objs:
	rm -rf $(BUILD)/obj $(SO)

clean:
	rm -rf build .emulator
