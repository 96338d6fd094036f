#!/usr/bin/env python3
"""Trains one small CapsNet of each family the loader reads on MNIST, for the README's "Models it
reads" table (`make trained-models`, through .ci/train-models; not part of `make test`).

    train_models.py MNIST_FOLDER OUT_FOLDER [FAMILY ...]

Each model trains on test images 0-7999 (the only MNIST images in ../shared/data) and is scored
by the tool on 8000-9999, which it never saw. Written into OUT_FOLDER per family: the model as its
family publishes it (FAMILY.keras; CapsNet-Keras also as Keras 2 save_weights with its to_json()),
and FAMILY.json with what Keras itself measured on 8000-9999, for the tool's float figure to be
checked against. A family whose files exist is not trained again. Seeded, on the pinned Keras
and JAX of requirements.txt; JAX on CPU is not bit-reproducible across machines, so figures from
a retrain may move by an image or two.
"""
import gzip
import json
import logging
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"

import h5py
import keras
import numpy as np

from capsnet_layers import Capsule, Length, Mask, PrimaryCapsule, capsnet_keras_graph, efficient_capsnet_graph

logging.getLogger("absl").setLevel(logging.ERROR)

TRAIN = slice(0, 8000)
SCORE = slice(8000, 10000)
EPOCHS = 10
BATCH = 32


def read_idx(path):
    """An idx file (plain or gzip) as a uint8 array of its declared shape."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(folder):
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        sys.exit(f"error: {folder}: no {stem} or {stem}.gz (the MNIST test set)")
    images = read_idx(find("t10k-images-idx3-ubyte")).astype("float32")[..., None] / 255.0
    labels = read_idx(find("t10k-labels-idx1-ubyte")).astype("int64")
    return images, labels


def margin_loss(y_true, lengths):
    """The CapsNet margin loss (m+ 0.9, m- 0.1, lambda 0.5) on the class lengths."""
    present = y_true * keras.ops.square(keras.ops.relu(0.9 - lengths))
    absent = 0.5 * (1 - y_true) * keras.ops.square(keras.ops.relu(lengths - 0.1))
    return keras.ops.mean(keras.ops.sum(present + absent, axis=-1))


def capsule_head(x, primary_filters):
    """The paper's capsule part: primary capsules of 4 over a 7x7 window with stride 2, ten class
    capsules of 6 with three routings, their lengths."""
    x = PrimaryCapsule(primary_filters, 4, kernel_size=7, strides=2)(x)
    x = Capsule(10, 6, routings=3)(x)
    return Length()(x)


def paper():
    """The paper's MNIST model, smaller: one ReLU convolution, then the capsules."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(16, 7, activation="relu")(x)
    return keras.Model(x, capsule_head(y, 8), name="paper")


def bn_valid():
    """Batch normalization after the ReLU, as the paper's later models put it, before the
    valid-padded primary capsules: the tool folds it into their weights."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(16, 7, activation="relu")(x)
    y = keras.layers.BatchNormalization()(y)
    return keras.Model(x, capsule_head(y, 8), name="bn_valid")


def bn_same():
    """Batch normalization after each ReLU with a same-padded convolution after the first: that
    one cannot fold (a padded zero is not a normalized zero) and runs as the affine kernel, the
    second folds into the primary capsules."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(16, 7, activation="relu")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(y)
    y = keras.layers.BatchNormalization()(y)
    return keras.Model(x, capsule_head(y, 8), name="bn_same")


def leaky():
    """Leaky ReLUs as people write them: a layer object as the activation, and a layer of its own."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(16, 5, activation=keras.layers.LeakyReLU(negative_slope=0.1))(x)
    y = keras.layers.Conv2D(16, 3)(y)
    y = keras.layers.LeakyReLU(negative_slope=0.3)(y)
    return keras.Model(x, capsule_head(y, 8), name="leaky")


def capsnet_keras():
    """XifengGuo/CapsNet-Keras's model, smaller: Conv2D, primary capsules as Conv2D, Reshape and
    Lambda(squash), a CapsuleLayer of ten 16-dimensional capsules, the lengths; trained as it
    trains, with the label input, Mask and a Dense decoder whose reconstruction loss weighs 0.392."""
    x, digitcaps, lengths, label, decoder = capsnet_keras_graph((28, 28, 1), 32, 9, 8, 8, 10, 16, 256)
    return keras.Model([x, label], [lengths, decoder(Mask()([digitcaps, label]))], name="capsnet_keras")


def efficient_capsnet():
    """Efficient-CapsNet's MNIST model at the paper's size (models/efficient_capsnet_graph_mnist.py):
    four ReLU convolutions each followed by a batch normalization, PrimaryCaps(128, 9, 16, 8), FCCaps of
    ten 16-dimensional capsules, the lengths; trained as its repository trains it, with the label input,
    Mask and a Dense generator (one hidden layer of 512) whose reconstruction loss weighs 0.392."""
    capsnet, generator = efficient_capsnet_graph((28, 28, 1), [(32, 5), (64, 3), (64, 3), (128, 3)],
                                                 (128, 9, 16, 8), 10, 16, 512)
    image, label = keras.Input((28, 28, 1)), keras.Input((10,))
    capsules, lengths = capsnet(image)
    return keras.Model([image, label], [lengths, generator(Mask()([capsules, label]))], name="efficient_capsnet")


def routing1():
    """One routing iteration (the couplings stay uniform), primary capsules of 8, class capsules of 8."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(16, 7, activation="relu")(x)
    y = PrimaryCapsule(16, 8, kernel_size=7, strides=2)(y)
    y = Capsule(10, 8, routings=1)(y)
    return keras.Model(x, Length()(y), name="routing1")


def routing5():
    """Five routing iterations, class capsules of 16 from primary capsules of 4, a 5x5 first convolution."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(16, 5, activation="relu")(x)
    y = PrimaryCapsule(8, 4, kernel_size=7, strides=2)(y)
    y = Capsule(10, 16, routings=5)(y)
    return keras.Model(x, Length()(y), name="routing5")


def wide_same():
    """A same-padded first convolution of 32 filters, a second of 16, primary capsules of 6 over a 5x5
    window, class capsules of 12 with two routings."""
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(32, 5, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(16, 3, activation="relu")(y)
    y = PrimaryCapsule(12, 6, kernel_size=5, strides=2)(y)
    y = Capsule(10, 12, routings=2)(y)
    return keras.Model(x, Length()(y), name="wide_same")


def rgb32():
    """A 32x32 RGB input (the digits padded by 2 and repeated over three channels, the shape of a
    CIFAR-10 CapsNet's input), batch normalization after the first convolution, primary capsules of 8
    over a 9x9 window, class capsules of 8 with three routings."""
    x = keras.Input((32, 32, 3))
    y = keras.layers.Conv2D(32, 5, activation="relu")(x)
    y = keras.layers.BatchNormalization()(y)
    y = PrimaryCapsule(8, 8, kernel_size=9, strides=2)(y)
    y = Capsule(10, 8, routings=3)(y)
    return keras.Model(x, Length()(y), name="rgb32")


def as_rgb32(images):
    """28x28x1 digits as 32x32x3 images: padded by 2 on every side, the one channel repeated."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return np.repeat(padded, 3, axis=-1)


FAMILIES = {"paper": paper, "bn_valid": bn_valid, "bn_same": bn_same, "leaky": leaky,
            "capsnet_keras": capsnet_keras, "efficient_capsnet": efficient_capsnet,
            "routing1": routing1, "routing5": routing5, "wide_same": wide_same, "rgb32": rgb32}

# Families whose input is not MNIST's 28x28x1: how their images are made from the digits. The tool
# reads them from FAMILY_data/images.npy and labels.npy, written beside the model.
INPUTS = {"rgb32": as_rgb32}


def train(name, images, labels, out):
    keras.utils.set_random_seed(20261202)
    model = FAMILIES[name]()
    if name in INPUTS:
        images = INPUTS[name](images)
        folder = os.path.join(out, name + "_data")
        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, "images.npy"), np.round(images * 255).astype("uint8"))
        np.save(os.path.join(folder, "labels.npy"), labels)
    onehot = keras.ops.convert_to_numpy(keras.ops.one_hot(labels, 10)).astype("float32")
    two_inputs = len(model.inputs) == 2
    if two_inputs:
        model.compile(keras.optimizers.Adam(1e-3), loss=[margin_loss, "mse"], loss_weights=[1.0, 0.392])
        x, y = [images[TRAIN], onehot[TRAIN]], [onehot[TRAIN], images[TRAIN]]
    else:
        model.compile(keras.optimizers.Adam(1e-3), loss=margin_loss)
        x, y = images[TRAIN], onehot[TRAIN]
    started = time.time()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=2)
    seconds = time.time() - started

    # What Keras itself scores on the held-out images; for two inputs, through the class lengths
    # alone (the label input only feeds the decoder).
    scorer = keras.Model(model.inputs[0], model.outputs[0]) if two_inputs else model
    lengths = np.asarray(scorer.predict(images[SCORE], verbose=0))
    top1 = float(np.mean(np.argmax(lengths, axis=1) == labels[SCORE]))

    model.save(os.path.join(out, name + ".keras"))
    if two_inputs:
        # As the family publishes its models: save_weights in Keras 2's layout, plus to_json().
        from keras.src.legacy.saving import legacy_h5_format
        with h5py.File(os.path.join(out, name + "_weights.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        with open(os.path.join(out, name + "_architecture.json"), "w") as f:
            f.write(model.to_json())
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"keras_top1": top1, "epochs": EPOCHS, "train_seconds": round(seconds, 1)}, f, indent=1)
    print(f"{name}: Keras top-1 on 8000-9999 {100 * top1:.2f}% after {EPOCHS} epochs ({seconds:.0f} s)")


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: train_models.py MNIST_FOLDER OUT_FOLDER [FAMILY ...]")
    folder, out, names = sys.argv[1], sys.argv[2], sys.argv[3:] or list(FAMILIES)
    for name in names:
        if name not in FAMILIES:
            sys.exit(f"error: no family '{name}'; the families: {', '.join(FAMILIES)}")
    images, labels = mnist(folder)
    os.makedirs(out, exist_ok=True)
    for name in names:
        if os.path.exists(os.path.join(out, name + ".json")):
            print(f"{name}: trained already ({os.path.join(out, name + '.keras')})")
            continue
        train(name, images, labels, out)


main()
