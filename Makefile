# ksight build. `make` builds ./ksight; `make demo` and `make test` install what is
# missing first. V=1 shows the commands.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

OUT      := build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
TRIPLET  := $(shell $(CC) -dumpmachine 2>/dev/null)
SYS_BTF  ?= /sys/kernel/btf/vmlinux
# The committed vmlinux.h of this architecture, for building where the kernel has
# no BTF: CO-RE relocates field accesses at load time, so one header per
# architecture serves every kernel (`make vmlinux-refresh` regenerates it).
VMLINUX_XZ := bpf/vmlinux-$(shell uname -m).h.xz
UNISTD   := $(firstword $(wildcard /usr/include/$(TRIPLET)/asm/unistd_64.h /usr/include/asm/unistd_64.h))
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS   ?= -O2 -g
WFLAGS   := -std=gnu11 -Wall -Wextra -Werror
CPPFLAGS := -I. -I$(OUT) -D_GNU_SOURCE -DKSIGHT_VERSION='"$(VERSION)"'
LDLIBS   := -lbpf -ldw -lelf -lz -llmdb -lzstd -lmsgpackc -lxxhash -ljansson -lpthread -lm -lcurl -larchive -lprotobuf-c
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
# The layers, bottom up: util, format, store, fstree; then the record and replay
# libraries (which never include each other); cli on top. Tests link every
# library; only ./ksight links cli/main.c.
LIB_SRCS  := $(wildcard util/*.c format/*.c store/*.c fstree/*.c replay/*.c record/*.c)
CLI_SRCS  := $(filter-out cli/main.c,$(wildcard cli/*.c))
LIB_OBJS  := $(patsubst %.c,$(OUT)/%.o,$(LIB_SRCS) $(CLI_SRCS))
MAIN_OBJ  := $(OUT)/cli/main.o
ASAN_LIB_OBJS := $(patsubst %.c,$(OUT)/asan/%.o,$(LIB_SRCS) $(CLI_SRCS))
FUZZ_LIB_SRCS := $(wildcard util/*.c format/*.c store/*.c fstree/*.c replay/*.c)
# Perfetto's trace format (a subset, Perfetto's field numbers): protoc-c
# generates its encoder, compiled without -Werror (generated code).
PB_PROTO  := replay/perfetto_trace.proto
PB_SRC    := $(OUT)/perfetto_trace.pb-c.c
PB_OBJ    := $(OUT)/gen/perfetto_trace.pb-c.o
ASAN_PB_OBJ := $(OUT)/asan/gen/perfetto_trace.pb-c.o
LIB_OBJS  += $(PB_OBJ)
ASAN_LIB_OBJS += $(ASAN_PB_OBJ)
GEN_HDRS  := $(OUT)/syscall_names.h $(BPF_SKELS) $(OUT)/perfetto_trace.pb-c.h

UNIT_SRCS := $(wildcard tests/test_*.c)
UNIT_BINS := $(patsubst tests/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
ASAN_BINS := $(patsubst tests/%.c,$(OUT)/asan/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))

DEB_DEPS := clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev liblmdb-dev \
	libzstd-dev libmsgpack-dev libxxhash-dev libcmocka-dev libjansson-dev \
	libclang-rt-14-dev linux-libc-dev pkg-config make gcc strace python3 sqlite3 \
	libcap2-bin lmdb-utils libcurl4-openssl-dev libarchive-dev xz-utils libdw-dev \
	iptables libprotobuf-c-dev protobuf-c-compiler protobuf-compiler chromium \
	clickhouse-server clickhouse-client
BENCH_DEPS := linux-perf bpftrace libbpf-tools hyperfine valgrind

.PHONY: all deps bench-deps demo test unit unit-asan unit-tsan integration fuzz fuzz-check \
	bench clean vmlinux-refresh test-nobtf
all: ksight

ksight: $(LIB_OBJS) $(MAIN_OBJ)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/%.o: %.c $(GEN_HDRS) | $(OUT)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WFLAGS) -MMD -MP -c $< -o $@

$(OUT)/asan/%.o: %.c $(GEN_HDRS) | $(OUT)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WFLAGS) -MMD -MP -c $< -o $@

$(OUT):
	$(Q)mkdir -p $(OUT)

# vmlinux.h from the running kernel's BTF; the committed copy only when there is none.
$(OUT)/vmlinux.h: | $(OUT)
	$(call msg,GEN,$@)
	$(Q)if [ -r $(SYS_BTF) ]; then $(BPFTOOL) btf dump file $(SYS_BTF) format c > $@; \
	elif [ -r $(VMLINUX_XZ) ]; then \
		echo "no $(SYS_BTF): using the committed $(VMLINUX_XZ)" >&2; \
		xz -dc $(VMLINUX_XZ) > $@; \
	else \
		echo "no $(SYS_BTF) and no $(VMLINUX_XZ): build once on a $(shell uname -m) kernel with BTF (CONFIG_DEBUG_INFO_BTF=y), run 'make vmlinux-refresh' there and commit $(VMLINUX_XZ)" >&2; \
		exit 1; \
	fi

# Regenerates the committed header from this kernel's BTF.
vmlinux-refresh:
	$(call msg,GEN,$(VMLINUX_XZ))
	$(Q)test -r $(SYS_BTF) || { echo "vmlinux-refresh: no $(SYS_BTF) on this kernel" >&2; exit 1; }
	$(Q){ printf '/* vmlinux.h of %s %s, from its BTF by make vmlinux-refresh */\n' \
		"$$(uname -r)" "$$(uname -m)"; $(BPFTOOL) btf dump file $(SYS_BTF) format c; } | \
		xz -9 > $(VMLINUX_XZ).tmp && mv $(VMLINUX_XZ).tmp $(VMLINUX_XZ)

# The build without the kernel's BTF: the BPF objects compile from the committed
# header, and their skeletons give the loader the same interface (maps, programs,
# globals; the embedded object itself may differ with the kernel).
NOBTF_OUT := $(OUT)/nobtf
test-nobtf: $(BPF_SKELS)
	$(Q)rm -rf $(NOBTF_OUT)
	$(Q)$(MAKE) --no-print-directory SYS_BTF=/nonexistent OUT=$(NOBTF_OUT) \
		$(patsubst $(OUT)/%,$(NOBTF_OUT)/%,$(BPF_SKELS))
	$(Q)for s in $(BPF_SKELS); do n=$(NOBTF_OUT)/$${s#$(OUT)/}; \
		sed '/__elf_bytes(size_t \*sz)$$/,/^}/d' $$s > $$n.want; \
		sed '/__elf_bytes(size_t \*sz)$$/,/^}/d' $$n > $$n.got; \
		cmp -s $$n.want $$n.got || { echo "test-nobtf: $$n differs from $$s:" >&2; \
			diff $$n.want $$n.got | head -20 >&2; exit 1; }; \
	done
	$(Q)head -c 200 $(NOBTF_OUT)/vmlinux.h | grep -q 'make vmlinux-refresh' || \
		{ echo "test-nobtf: $(NOBTF_OUT)/vmlinux.h is not the committed header" >&2; exit 1; }
	$(Q)rm -rf $(NOBTF_OUT)/none; \
	if $(MAKE) --no-print-directory -s SYS_BTF=/nonexistent VMLINUX_XZ=/nonexistent \
		OUT=$(NOBTF_OUT)/none $(NOBTF_OUT)/none/vmlinux.h 2> $(NOBTF_OUT)/none.err; then \
		echo "test-nobtf: built without any BTF or header" >&2; exit 1; fi; \
	grep -q "make vmlinux-refresh" $(NOBTF_OUT)/none.err || \
		{ echo "test-nobtf: no clear error without BTF:" >&2; cat $(NOBTF_OUT)/none.err >&2; exit 1; }
	@echo "test-nobtf: $(words $(BPF_SKELS)) skeletons built from $(VMLINUX_XZ) match; without it, one clear error"

$(OUT)/%.bpf.o: bpf/%.bpf.c bpf/events.h $(wildcard bpf/*.bpf.h) $(OUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I$(OUT) -Ibpf -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# one protoc-c run makes both (a grouped target: the .c is known to be new too)
$(OUT)/perfetto_trace.pb-c.h $(PB_SRC) &: $(PB_PROTO) | $(OUT)
	$(call msg,PROTOC,$@)
	$(Q)protoc-c --c_out=$(OUT) -Ireplay $(PB_PROTO)

$(PB_OBJ): $(PB_SRC)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 -c $< -o $@

$(ASAN_PB_OBJ): $(PB_SRC)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) -std=gnu11 -c $< -o $@

# Syscall names of this architecture, as the kernel headers spell them.
$(OUT)/syscall_names.h: $(UNISTD) | $(OUT)
	$(call msg,GEN,$@)
	$(Q)awk '/^#define __NR_[a-z0-9_]+[ \t]+[0-9]+/ { printf "\t[%s] = \"%s\",\n", $$3, substr($$2, 6) }' $< > $@

# Unit tests: each tests/test_X.c is its own cmocka binary linked with the libraries.
$(OUT)/tests/%: tests/%.c $(LIB_OBJS)
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(OUT)/asan/tests/%: tests/%.c $(ASAN_LIB_OBJS)
	$(call msg,TEST-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(OUT)/fuzz/%: tests/%.c $(FUZZ_LIB_SRCS) $(GEN_HDRS) $(PB_SRC)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -std=gnu11 \
		-o $@ $< $(FUZZ_LIB_SRCS) $(PB_SRC) $(LDLIBS)

deps:
	@missing=""; for p in $(DEB_DEPS) $(EXTRA_DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
		{ echo "make deps: apt-get could not install:$$missing" >&2; exit 1; }; \
	fi

bench-deps:
	@$(MAKE) --no-print-directory deps EXTRA_DEPS="$(BENCH_DEPS)"

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; $$t || exit 1; done

unit-asan: $(ASAN_BINS)
	@for t in $(ASAN_BINS); do echo "== $$t (asan+ubsan)"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || exit 1; done

# The threaded segment walk under ThreadSanitizer (its own build: TSan and ASan
# do not mix).
$(OUT)/tsan/tests/test_pipeline: tests/test_pipeline.c $(FUZZ_LIB_SRCS) $(GEN_HDRS) $(PB_SRC)
	$(call msg,TEST-TSAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g -fsanitize=thread $(WFLAGS) -o $@ $< $(FUZZ_LIB_SRCS) \
		$(PB_SRC) $(LDLIBS) -lcmocka

unit-tsan: $(OUT)/tsan/tests/test_pipeline
	@echo "== $< (tsan)"; TSAN_OPTIONS=halt_on_error=1 $<

integration: ksight
	@tests/integration.sh

test: deps
	@$(MAKE) --no-print-directory all unit unit-asan unit-tsan test-nobtf
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory fuzz-check

FUZZ_SECONDS ?= 60
fuzz: deps $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do mkdir -p $(OUT)/corpus/$$(basename $$f); \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(OUT)/corpus/$$(basename $$f) tests/corpus/$$(basename $$f) || exit 1; done

# Every fuzz target over its committed corpus (the inputs that once found
# something), then a short random run: part of `make test`.
FUZZ_CHECK_SECONDS ?= 15
fuzz-check: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); log=$(OUT)/$$n.log; \
		mkdir -p $(OUT)/corpus/$$n; \
		if $$f -runs=0 tests/corpus/$$n >$$log 2>&1 && \
		   $$f -max_total_time=$(FUZZ_CHECK_SECONDS) -print_final_stats=1 \
			$(OUT)/corpus/$$n tests/corpus/$$n >$$log 2>&1; then \
			echo "fuzz $$n: $$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) runs, no crash"; \
		else tail -30 $$log; echo "fuzz $$n: FAILED (log: $$log)"; exit 1; fi; \
	done

bench: bench-deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh

clean:
	rm -rf $(OUT) ksight

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)
