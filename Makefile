# slipway: one non-recursive Makefile.
#   make            build build/slipway
#   make test       build with ASan+UBSan, run unit and integration tests
#   make up         install packages, build, run `slipway up` in ./var
#   make bench      run the side-by-side benchmarks in bench/
# Sources are found per module directory, so adding a file needs no edit here.

VERSION := 0.1.0
PKGS    := libgit2 libarchive libssh zlib yaml-0.1 libcurl libmicrohttpd \
           jansson sqlite3 libssl libcrypto libdeflate
MODULES := lib slug image builder registry store controller client hooks \
           sshd runner proxy backup cli

CC      ?= cc
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
ifneq ($(WERROR),)
WARN    += -Werror
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
CPPFLAGS := -Iinclude -D_GNU_SOURCE -DSLIPWAY_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
ALL_CFLAGS = -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) -lpthread

SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined

SRCS    := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
MAIN    := cli/main.c
LIBSRCS := $(filter-out $(MAIN),$(SRCS))
UNIT    := $(wildcard tests/unit/*.c)

OBJS     := $(SRCS:%.c=build/rel/%.o)
SANOBJS  := $(SRCS:%.c=build/san/%.o)
SANLIB   := $(LIBSRCS:%.c=build/san/%.o)
UNITOBJS := $(UNIT:%.c=build/san/%.o)

# The container init (runner/init/, not a module dir: not in SRCS) is a
# program of its own, static so that it runs in any image.  slipway
# carries its bytes (runner/init_bin.c .incbin's the file), so the
# objects that do depend on it; -MMD cannot see an .incbin.
INIT     := build/init/slipway-init
INITOBJS := build/rel/runner/init_bin.o build/san/runner/init_bin.o

.PHONY: all test unit up deps bench clean
all: build/slipway

build/slipway: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(INIT): runner/init/slipway-init.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -D_GNU_SOURCE -Os -static -s -o $@ $<

$(INITOBJS): $(INIT)
$(INITOBJS): CPPFLAGS += -DSLIPWAY_INIT_BIN='"$(INIT)"'

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -c -o $@ $<

build/san/slipway: $(SANOBJS)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

build/san/unit: $(SANLIB) $(UNITOBJS)
	$(CC) $(SAN) -o $@ $^ $(LDLIBS)

deps:
	@scripts/deps.sh

# The tests run the sanitizer build of the binary, so every integration test
# is also a memory-safety test of the code it drives.
test: deps
	@$(MAKE) --no-print-directory build/san/slipway build/san/unit
	@tests/run.sh

up: deps
	@$(MAKE) --no-print-directory build/slipway
	SLIPWAY_HOME=$${SLIPWAY_HOME:-$(CURDIR)/var} build/slipway up

bench: all
	@for b in bench/*.sh; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(SANOBJS:.o=.d) $(UNITOBJS:.o=.d)
