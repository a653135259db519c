# BenchFS - `make` builds everything into build/.
#   make test         unit + system tests (tests/run.sh); last line "N passed, N failed"
#   make test-stress  the longer reliability tests
#   make SAN=1 ...    the same with AddressSanitizer + UBSan, into build/san/
#   make fuzz         libFuzzer targets for the RPC decoder and the handlers (clang), into build/fuzz/
#   make bench        benchmarks with baselines (bench/run-bench.sh)
#   make demo         set up, build, run server + mount + benchmark + fio, clean up
#   make install      programs, libbenchfs.so, benchfs.h and benchfs.pc under DESTDIR/PREFIX
CC      ?= cc
PKGS    := ucx fuse3 liburing lmdb
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lpthread

ifeq ($(SAN),1)
BUILD   ?= build/san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

COMMON_SRC := $(wildcard common/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
FUSE_SRC   := $(wildcard fuse/*.c)
BENCH_SRC  := $(wildcard bench/*.c)
FSCK_SRC   := $(wildcard fsck/*.c)
FSCK_CHECK_SRC := fsck/check.c fsck/records.c
LIB_SRC    := $(wildcard lib/*.c)
TEST_SRC   := $(wildcard tests/unit/*.c tests/system/*.c tests/stress/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_LIB := $(BUILD)/libbenchfs-common.a
SERVER_LIB := $(BUILD)/libbenchfs-server.a
# libbenchfs's own layer (lib/, over the client in COMMON_LIB), for programs linked statically.
API_LIB    := $(BUILD)/libbenchfs-api.a
PROGS      := $(BUILD)/benchfs-server $(BUILD)/benchfs-fuse $(BUILD)/benchfs-bench $(BUILD)/benchfs-fsck \
              $(BUILD)/bench-ns $(BUILD)/benchfs-status $(BUILD)/benchfs-stage
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all test test-stress clean fuzz bench demo install
all: $(PROGS) $(TESTS) $(BUILD)/benchfs $(BUILD)/libbenchfs.so $(BUILD)/benchfs.pc $(BUILD)/libbenchfs-preload.so

# "benchfs": the program mount.fuse3 runs for -t fuse.benchfs (benchfs-fuse itself).
$(BUILD)/benchfs: $(BUILD)/benchfs-fuse
	ln -sf benchfs-fuse $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	$(AR) rcs $@ $^
$(API_LIB): $(call obj,$(LIB_SRC))
	$(AR) rcs $@ $^

# ---- libbenchfs.so: the client (common/) and the API (lib/), compiled -fPIC
# into build/pic/, every symbol hidden but benchfs_* (lib/benchfs.map; the
# API's definitions are marked visible), so that a preloaded copy never
# clashes with a program's own symbols. LIB_PIC_OBJS is what a shared object
# built on the API links (build/libbenchfs-preload.so: preload/*.c).
pic = $(patsubst %.c,$(BUILD)/pic/%.o,$(1))
LIB_PIC_OBJS := $(call pic,$(COMMON_SRC) $(LIB_SRC))
LIB_LDLIBS   := $(shell pkg-config --libs ucx) -lpthread
LIB_SONAME   := libbenchfs.so.1
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@
$(BUILD)/$(LIB_SONAME): $(LIB_PIC_OBJS) lib/benchfs.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/benchfs.map \
	    -Wl,--no-undefined $(LIB_PIC_OBJS) -o $@ $(LIB_LDLIBS)
$(BUILD)/libbenchfs.so: $(BUILD)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

# ---- libbenchfs-preload.so: LD_PRELOAD it and a program's file calls on
# BenchFS paths go over RPC (preload/preload.h). It loads libbenchfs.so.1 from
# its own directory on the first BenchFS call (preload/api.c), so it links only
# the mount table parser. Its own objects keep default visibility (they define
# libc's names; their internals are hidden in preload.h). -Bsymbolic-functions:
# a program's own function of the same name as one of ours never replaces it.
PRELOAD_SRC := $(wildcard preload/*.c)
$(BUILD)/pic/preload/%.o: preload/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@
$(BUILD)/libbenchfs-preload.so: $(call pic,$(PRELOAD_SRC) common/mountinfo.c common/nodetab.c) | $(BUILD)/$(LIB_SONAME)
	$(CC) $(LDFLAGS) -shared -Wl,-Bsymbolic-functions -Wl,--no-undefined $^ -o $@ -lpthread -ldl

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
LIBDIR  := $(PREFIX)/lib
INCDIR  := $(PREFIX)/include
PCDIR   := $(LIBDIR)/pkgconfig
# benchfs.pc: lib/benchfs.pc.in for a prefix (the build's copy for PREFIX;
# make install writes its own for the PREFIX it installs under).
PC_SED = sed -e 's|@PREFIX@|$(1)|' -e 's|@LIBDIR@|$(1)/lib|' -e 's|@INCDIR@|$(1)/include|' \
	     -e "s|@VERSION@|$$(sed -n 's/.*BENCHFS_VERSION "\(.*\)"/\1/p' common/version.h)|" lib/benchfs.pc.in
$(BUILD)/benchfs.pc: lib/benchfs.pc.in common/version.h
	@mkdir -p $(dir $@)
	$(call PC_SED,$(PREFIX)) > $@
INSTALL_PROGS := benchfs-server benchfs-fuse benchfs-bench benchfs-fsck benchfs-status benchfs-stage
install: $(PROGS) $(BUILD)/benchfs $(BUILD)/libbenchfs.so $(BUILD)/libbenchfs-preload.so
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR)
	install -m 755 $(addprefix $(BUILD)/,$(INSTALL_PROGS)) $(DESTDIR)$(BINDIR)/
	ln -sf benchfs-fuse $(DESTDIR)$(BINDIR)/benchfs
	install -m 755 $(BUILD)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libbenchfs-preload.so $(DESTDIR)$(LIBDIR)/
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libbenchfs.so
	install -m 644 lib/benchfs.h $(DESTDIR)$(INCDIR)/
	$(call PC_SED,$(PREFIX)) > $(DESTDIR)$(PCDIR)/benchfs.pc
$(SERVER_LIB): $(call obj,$(SERVER_SRC))
	$(AR) rcs $@ $^

$(BUILD)/benchfs-server: $(call obj,server/main.c) $(SERVER_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/benchfs-fuse: $(call obj,$(FUSE_SRC)) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/benchfs-bench: $(call obj,$(BENCH_SRC)) $(API_LIB) $(SERVER_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# What namespace operations cost over RPC (make bench runs it on 1 and 3 servers).
$(BUILD)/bench-ns: $(call obj,bench/ns/nsbench.c) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# Job tools (tools/): the cluster's state, staging trees in and out.
$(BUILD)/benchfs-status: $(call obj,tools/status.c) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/benchfs-stage: $(call obj,$(wildcard tools/stage/*.c)) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/benchfs-fsck: $(call obj,$(FSCK_SRC)) $(SERVER_LIB) $(COMMON_LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SERVER_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# libbenchfs's system test links the API statically (and a second program
# is built against the installed library by tests/system/libbenchfs.sh).
$(BUILD)/tests/system/test_libbenchfs: $(BUILD)/obj/tests/system/test_libbenchfs.o $(API_LIB) $(SERVER_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# The node table's test drives libbenchfs's cache over it (lib/cache.c).
$(BUILD)/tests/unit/test_nodetab: $(BUILD)/obj/tests/unit/test_nodetab.o $(API_LIB) $(SERVER_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# test_preload runs under LD_PRELOAD=libbenchfs-preload.so: ordinary system
# calls only, no BenchFS (nor UCX, whose memory hooks would take its mmap)
# linked; fsx too (the preload suite runs it under the preload library).
$(BUILD)/tests/system/test_preload: $(BUILD)/obj/tests/system/test_preload.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ -lpthread
$(BUILD)/tests/system/fsx: $(BUILD)/obj/tests/system/fsx.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ -lpthread

# Unit tests of the FUSE client's pure logic link its object too.
$(BUILD)/tests/unit/test_pagecache: $(call obj,fuse/pagecache.c)
$(BUILD)/tests/unit/test_openfiles: $(call obj,fuse/openfiles.c)
$(BUILD)/tests/unit/test_dirstash: $(call obj,fuse/dirstash.c)
# ... benchfs-stage's mount finder (pure: mountinfo text) ...
$(BUILD)/tests/unit/test_where: $(call obj,tools/stage/where.c)
$(BUILD)/tests/unit/test_lockowners: $(call obj,fuse/lockowners.c)
# ... and benchfs-fsck's checker (pure: tested on synthetic tables).
$(BUILD)/tests/unit/test_fsck: $(call obj,$(FSCK_CHECK_SRC))
# The chunk store's fd cache is a pure data structure: its test links that object only.
$(BUILD)/tests/unit/test_fdcache: $(BUILD)/obj/tests/unit/test_fdcache.o $(call obj,server/fdcache.c) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

test: all
	BUILD=$(BUILD) tests/run.sh

test-stress: all
	BUILD=$(BUILD) tests/run.sh --stress

# The fuzz targets need clang's libFuzzer. fuzz_proto links only the protocol code;
# fuzz_handlers the handlers, metadata and chunk stores (UCX headers, no UCX library:
# it defines what the handlers need from transport.c itself).
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Wall -Wextra -Werror
FUZZ_SRC := tests/fuzz/fuzz_proto.c common/proto.c common/registry.c common/log.c
build/fuzz/fuzz_proto: $(FUZZ_SRC) common/proto.h common/registry.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(FUZZ_SRC) -o $@
FUZZ_H_SRC := tests/fuzz/fuzz_handlers.c server/handlers.c $(wildcard server/meta*.c) server/fileops.c server/gone.c \
              server/handlers_data.c server/handlers_ns.c \
              server/chunkstore.c server/chunkfiles.c server/chunkcut.c server/chunkremove.c server/chunkusage.c server/chunkjobs.c server/fdcache.c server/syncgroup.c \
              server/lockreq.c server/locks.c \
              server/status.c server/xattr_store.c common/proto.c common/placement.c common/log.c \
              common/acl.c common/xattr.c
build/fuzz/fuzz_handlers: $(FUZZ_H_SRC) $(wildcard server/*.h common/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fno-sanitize-recover=undefined $(shell pkg-config --cflags ucx lmdb liburing) \
	    $(FUZZ_H_SRC) -o $@ \
	    $(shell pkg-config --libs lmdb liburing)
fuzz: build/fuzz/fuzz_proto build/fuzz/fuzz_handlers

bench: all
	bench/run-bench.sh

demo:
	./demo.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/pic -name '*.d' 2>/dev/null)
