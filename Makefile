# The README's two commands: `make demo` runs the main job, `make test` runs every test.
# Both install the Debian packages they need first (.ci/install-deps, idempotent).

SWIFT ?= swift

# swiftc on Linux has no -sanitize=undefined, and the code under test is C: clang instruments the
# C targets and links its UBSan runtime; any report aborts the run.
UBSAN := -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined \
         -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined

.PHONY: demo test deps fixtures check-c docs test-swift test-asan test-ubsan trained-models compare-schemes fuzz cv32e40p

# The main job: quantize the MNIST CapsNet, calibrating on test images 0-999 and scoring 1000-9999.
MODEL ?= ../shared/data/models/caps_net_mnist.h5
DATA ?= ../shared/data/mnist
OUT ?= out/mnist

demo: deps
	@if [ ! -f "$(MODEL)" ] || [ ! -d "$(DATA)" ]; then \
		echo "make demo needs a trained Keras CapsNet and MNIST:"; \
		echo "  $(MODEL)  (the model, a Keras .h5 or .keras file)"; \
		echo "  $(DATA)/t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz  (the MNIST test set)"; \
		echo "Put them there, or name others: make demo MODEL=path/model.h5 DATA=path/mnist"; \
		exit 2; \
	fi
	$(SWIFT) build -c release --product capsnet
	.build/release/capsnet convert $(MODEL) --calibration $(DATA)@0-999 --eval $(DATA)@1000-9999 --out $(OUT)

test: deps fixtures check-c docs test-swift test-asan test-ubsan

deps:
	@.ci/install-deps

# The Keras models the tests read, written by Keras itself (pinned, in a virtual environment) into
# .build-fixtures; nothing of them is committed.
fixtures: deps
	.ci/make-fixtures

# The README's "Models it reads" figures: small CapsNets of each family trained on MNIST 0-7999,
# converted and scored on 8000-9999, counted on the Cortex-M4 (about 25 min; not part of `make test`).
trained-models: deps
	.ci/train-models

# Every quantization scheme on every trained model, tuning and check sets, and the rules with a
# format per filter (after trained-models; about 15 min; not part of `make test`).
compare-schemes: deps
	.ci/compare-schemes

# The CV32E40P board at length: the MNIST self-test on 20 images with the CORE-V SIMD path and the
# portable C, on clusters of 2, 4 and 8 cores, and the README's cycle table, for CV32E40P_MODEL (a
# quantized model; default make demo's); about 8 min; CI runs a few images of it (.ci/check-firmware).
CV32E40P_MODEL ?= $(OUT)/model.capsnet
cv32e40p: deps
	MODEL=$(CV32E40P_MODEL) .ci/cv32e40p

# The fuzz targets (Sources/CapsNetFuzz, CSources/fuzz) under libFuzzer and the sanitizers, FUZZ_SECONDS (10) each; CI runs it.
fuzz: deps fixtures
	.ci/fuzz

# C99 strict warnings, cross builds for Cortex-M4 and rv32imc, and the no-float/no-libc audit.
check-c:
	.ci/check-c

# The DocC catalog (the design articles), built by swift-docc-plugin; a broken link fails it.
docs:
	$(SWIFT) package generate-documentation --target CapsNetEdge --warnings-as-errors

# Every test in an optimized build (-enable-testing for the @testable imports): the checks over
# thousands of MNIST images take seconds here instead of minutes. The sanitizer runs below are debug
# builds, with assertions.
test-swift:
	$(SWIFT) test -c release -Xswiftc -enable-testing --scratch-path .build-release-tests

# The sanitizer runs: the tests that exercise memory (kernels, parsers, engine, a few MNIST images);
# the dataset-scale checks stay in the release run (CAPSNET_SANITIZER_RUN, see Tests/.../TestData.swift).
test-asan:
	CAPSNET_SANITIZER_RUN=1 LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan-suppressions.txt \
		$(SWIFT) test --sanitize=address --scratch-path .build-asan

test-ubsan:
	CAPSNET_SANITIZER_RUN=1 $(SWIFT) test --scratch-path .build-ubsan $(UBSAN)
