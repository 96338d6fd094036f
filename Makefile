# The README's two commands: `make demo` runs the main job, `make test` runs every test.
# Both install the Debian packages they need first (.ci/install-deps, idempotent).

SWIFT ?= swift

# swiftc on Linux has no -sanitize=undefined, and the code under test is C: clang instruments the
# C targets and links its UBSan runtime; any report aborts the run.
UBSAN := -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined \
         -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined

.PHONY: demo test deps check-c test-swift test-asan test-ubsan

demo: deps
	$(SWIFT) run -c release capsnet demo

test: deps check-c test-swift test-asan test-ubsan

deps:
	@.ci/install-deps

# C99 strict warnings, cross builds for Cortex-M4 and rv32imc, and the no-float/no-libc audit.
check-c:
	.ci/check-c

test-swift:
	$(SWIFT) test

test-asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan-suppressions.txt \
		$(SWIFT) test --sanitize=address --scratch-path .build-asan

test-ubsan:
	$(SWIFT) test --scratch-path .build-ubsan $(UBSAN)
