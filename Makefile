# phive — build, tests, benchmarks, reference validation.
#   make            bin/phive (CUDA kernels too when nvcc is found; CUDA=0 forces CPU-only, CUDA=1 requires nvcc)
#   make deps       install the Debian packages (as root; otherwise prints the apt line)
#   make test       unit + integration tests, ends with "N passed, N failed"
#   make bench      performance figures next to their targets
#   make validate   reference comparisons and bounded fuzzing of the parsers
#   make demo       run the main job on the embedded default config
#   make clean

SHELL := /bin/bash
# Quiet by default ("CC file"); V=1 shows the full commands.
Q := $(if $(V),,@)
CC := mpicc
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
ifeq ($(origin CUDA),undefined)
  CUDA := $(if $(NVCC),1,0)
endif
CUDA_HOME ?= $(if $(NVCC),$(abspath $(dir $(NVCC))/..),/usr/local/cuda)

DEBIAN_PACKAGES := build-essential pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools \
  petsc-dev libopenblas-dev libspng-dev zlib1g-dev libinih-dev libcjson-dev libzip-dev libmatio-dev \
  slurm-wlm munge libcmocka-dev clang libclang-rt-14-dev python3-numpy python3-h5py python3-scipy \
  python3-skimage python3-open3d python3-matplotlib

PKGS := hdf5-openmpi PETSc inih libcjson spng zlib openblas libzip
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# matio: plain -lmatio; its pkg-config flags would pull in the serial HDF5 ahead of the openmpi one.
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lmatio

CFLAGS ?= -O2 -g
CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -Iinclude -Ikernels $(PKG_CFLAGS)
LDLIBS := $(PKG_LIBS) -lm -fopenmp
NVCCFLAGS ?= -O2 -std=c++17 -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings -Iinclude -Ikernels \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90

SRC := $(sort $(wildcard src/*/*.c))
LIB_SRC := $(filter-out src/cli/main.c,$(SRC))
CU_SRC := $(sort $(wildcard kernels/*.cu))

ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found; install the CUDA toolkit or build with CUDA=0)
  endif
  BUILD := build/cuda
  CFLAGS += -DPHIVE_CUDA -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lcublas -lnccl -lstdc++
  CU_OBJ := $(CU_SRC:kernels/%.cu=$(BUILD)/kernels/%.o)
else
  BUILD := build/cpu
  CU_OBJ :=
endif

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_OBJ)
LIB := $(BUILD)/libphive.a
# The same sources with real = double, for the finite-difference gradient checks.
DBL := build/double
DBL_LIB := $(DBL)/libphive.a
DBL_OBJ := $(LIB_SRC:%.c=$(DBL)/%.o)

UNIT_SRC := $(sort $(wildcard validation/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:validation/unit/%.c=$(BUILD)/tests/%)
GRAD_SRC := $(sort $(wildcard validation/unit/grad_*.c))
GRAD_BIN := $(GRAD_SRC:validation/unit/%.c=$(DBL)/tests/%)
BENCH_SRC := $(sort $(wildcard validation/bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:validation/bench/%.c=$(BUILD)/bench/%)
FUZZ_SRC := $(sort $(wildcard validation/fuzz/fuzz_*.c))

BIN ?= bin/phive

.PHONY: all deps test unit-tests bench validate demo clean
all: $(BIN)

$(BIN): $(BUILD)/src/cli/main.o $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/kernels/%.o: kernels/%.cu
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	$(Q)$(NVCC) $(NVCCFLAGS) -DPHIVE_CUDA -ccbin g++ -c -o $@ $<

$(DBL_LIB): $(DBL_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(DBL)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC (f64) $<"
	$(Q)$(CC) $(filter-out -DPHIVE_CUDA -I$(CUDA_HOME)/include,$(CFLAGS)) -DPHIVE_REAL_DOUBLE -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: validation/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(DBL)/tests/%: validation/unit/%.c $(DBL_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(filter-out -DPHIVE_CUDA -I$(CUDA_HOME)/include,$(CFLAGS)) -DPHIVE_REAL_DOUBLE -o $@ $< $(DBL_LIB) $(filter-out -lcudart -lcublas -lnccl,$(PKG_LIBS)) -lm -fopenmp -lcmocka

$(BUILD)/bench/%: validation/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBIAN_PACKAGES); \
	else echo "run as root: apt-get install -y $(DEBIAN_PACKAGES)"; fi

unit-tests: $(UNIT_BIN) $(GRAD_BIN)

test: bin/phive unit-tests
	@BUILD=$(BUILD) DBL=$(DBL) validation/run_tests.sh

# Passive OpenMP waiting: spinning workers take the cores from OpenBLAS and PETSc between regions.
bench: bin/phive $(BENCH_BIN)
	@export OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-passive}; for b in $(BENCH_BIN) validation/bench/bench_*.sh; do $$b || exit 1; done

validate: bin/phive
	@BUILD=$(BUILD) FUZZ_SRC="$(FUZZ_SRC)" LIB_SRC="$(LIB_SRC)" PKG_CFLAGS="$(PKG_CFLAGS)" PKG_LIBS="$(PKG_LIBS)" \
	  validation/run_validate.sh

demo: bin/phive
	bin/phive run configs/demo.ini --out results/demo

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
