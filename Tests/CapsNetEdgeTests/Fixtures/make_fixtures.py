#!/usr/bin/env python3
"""Writes the small Keras models the loader, float reference and engine tests read, into FOLDER.

    make_fixtures.py FOLDER

`make test` runs it (through .ci/make-fixtures) before the tests, with the pinned Keras and JAX of
requirements.txt in a virtual environment, so the tests read files that Keras itself wrote and none
is committed. The models are tiny CapsNets with random weights from a fixed seed, saved by Keras 3 in
both of its formats (native `.keras` and legacy `.h5`), with Keras's own outputs for a few inputs;
the damaged files are made from them with h5py. The datasets the readers' tests use are written by
the tests themselves (Support/GeneratedData.swift).
"""
import json
import logging
import os
import pickle
import struct
import sys
import zipfile

if len(sys.argv) != 2:
    sys.exit("usage: make_fixtures.py FOLDER")
os.environ["KERAS_BACKEND"] = "jax"  # the one backend requirements.txt installs

import h5py
import keras
import numpy as np

from capsnet_layers import (Capsule, Length, Mask, PrimaryCapsule, capsnet_keras_graph, efficient_capsnet_graph,
                            efficient_capsnet_smallnorb_graph)

# Saving `.h5` on purpose is what the legacy-format tests need; Keras warns about it every time.
logging.getLogger("absl").setLevel(logging.ERROR)

OUT = os.path.abspath(sys.argv[1])
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261126)


def randomize(model):
    """Normal weights; a batch normalization's moving variance positive and its gamma near 1, as
    trained ones are."""
    for layer in model.layers:
        for weight in layer.weights:
            values = rng.normal(0.0, 0.4, size=weight.shape)
            if weight.name == "moving_variance":
                values = rng.uniform(0.2, 2.0, size=weight.shape)
            elif weight.name == "gamma":
                values += 1.0
            weight.assign(values.astype("float32"))


def save(model, name, input_shape):
    randomize(model)
    model.save(os.path.join(OUT, name + ".keras"))
    model.save(os.path.join(OUT, name + ".h5"))
    x = rng.uniform(0.0, 1.0, size=(3,) + input_shape).astype("float32")
    np.save(os.path.join(OUT, name + "_input.npy"), x)
    np.save(os.path.join(OUT, name + "_output.npy"), np.asarray(model.predict(x, verbose=0), dtype="float32"))


def sequential():
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        PrimaryCapsule(2, 4, kernel_size=3, strides=2),
        Capsule(3, 4, routings=3),
        Length(),
    ], name="tiny_sequential")
    save(model, "tiny_sequential", (12, 12, 1))
    return model


def functional():
    x = keras.Input((11, 9, 2))
    y = keras.layers.Conv2D(6, (3, 2), strides=(2, 1), padding="same", use_bias=False)(x)
    y = keras.layers.Dropout(0.3)(y)
    y = keras.layers.Activation("relu")(y)
    y = PrimaryCapsule(3, 4, kernel_size=[3, 3], strides=[1, 2], padding="same")(y)
    y = keras.layers.Reshape((-1, 4))(y)
    y = Capsule(2, 3, routings=2)(y)
    y = Length()(y)
    y = keras.layers.Flatten()(y)
    save(keras.Model(x, y, name="tiny_functional"), "tiny_functional", (11, 9, 2))


def leaky():
    """Every way Keras writes a (leaky) ReLU: a layer object as a convolution's activation, the
    `leaky_relu` name, the LeakyReLU, Activation and ReLU layers. With images and labels to
    convert it on (<name>_data/images.npy and labels.npy), for the firmware checks."""
    model = keras.Sequential([
        keras.Input((14, 14, 1)),
        keras.layers.Conv2D(4, 3, activation=keras.layers.LeakyReLU(negative_slope=0.3)),
        keras.layers.Conv2D(4, 3),
        keras.layers.LeakyReLU(negative_slope=0.1),
        keras.layers.Conv2D(4, 3, activation="leaky_relu"),
        keras.layers.Activation("leaky_relu"),
        keras.layers.ReLU(),
        PrimaryCapsule(2, 4, kernel_size=3, strides=2),
        Capsule(3, 4, routings=3),
        Length(),
    ], name="tiny_leaky")
    save(model, "tiny_leaky", (14, 14, 1))
    with open(os.path.join(OUT, "tiny_leaky_config.json"), "w") as f:
        f.write(model.to_json())
    images_for(model, "tiny_leaky")


def images_for(model, name):
    """24 random 8-bit images with labels in <name>_data/images.npy and labels.npy, to convert
    the model on (the firmware checks do); the class lengths are the model's first output."""
    data = os.path.join(OUT, name + "_data")
    os.makedirs(data, exist_ok=True)
    shape = model.inputs[0].shape[1:]
    classes = model.outputs[0].shape[-1]
    pixels = rng.integers(0, 256, size=(24,) + tuple(shape), dtype=np.uint8)
    np.save(os.path.join(data, "images.npy"), pixels[..., 0] if shape[-1] == 1 else pixels)
    np.save(os.path.join(data, "labels.npy"), rng.integers(0, classes, size=(24,), dtype=np.int64))


def batch_norm():
    """Batch normalization where the paper's later models put it, after each ReLU, and after a
    convolution without activation; in one model each one folds into a convolution (before it, or
    after it with valid padding), in the other none can (the convolutions after them pad with
    zeros), with center and scale off on one. The second also as weights only, in both layouts,
    with its to_json() architecture."""
    folding = keras.Sequential([
        keras.Input((14, 14, 1)),
        keras.layers.Conv2D(6, 3),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(epsilon=0.01),
        PrimaryCapsule(2, 4, kernel_size=3, strides=2),
        Capsule(3, 4, routings=3),
        Length(),
    ], name="tiny_bn_valid")
    save(folding, "tiny_bn_valid", (14, 14, 1))
    images_for(folding, "tiny_bn_valid")

    kept = keras.Sequential([
        keras.Input((12, 12, 2)),
        keras.layers.Conv2D(5, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(center=False, scale=False),
        PrimaryCapsule(2, 4, kernel_size=3, strides=1, padding="same"),
        Capsule(3, 4, routings=2),
        Length(),
    ], name="tiny_bn_same")
    save(kept, "tiny_bn_same", (12, 12, 2))
    images_for(kept, "tiny_bn_same")
    kept.save_weights(os.path.join(OUT, "tiny_bn_same.weights.h5"))
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(os.path.join(OUT, "tiny_bn_same_weights_keras2.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kept)
    with open(os.path.join(OUT, "tiny_bn_same_config.json"), "w") as f:
        f.write(kept.to_json())


def capsnet_keras():
    """The CapsNet-Keras family as its capsulenet.py builds it: primary capsules as Conv2D, Reshape and
    Lambda(squash), a CapsuleLayer, the class lengths, and for training a label input, Mask and a
    Sequential Dense decoder; the input with a fixed batch size. Saved as the training model, the
    evaluation model (two outputs), weights only in both layouts with the training model's to_json(),
    and nested: the CapsNet as a Functional model inside the training model."""
    x, digitcaps, lengths, y, decoder = capsnet_keras_graph((12, 12, 1), 8, 3, 2, 4, 3, 5, 16, batch_size=3)
    train = keras.Model([x, y], [lengths, decoder(Mask()([digitcaps, y]))], name="capsnet_keras_train")
    evaluation = keras.Model(x, [lengths, decoder(Mask()(digitcaps))], name="capsnet_keras_eval")
    randomize(train)
    images = rng.uniform(0.0, 1.0, size=(3, 12, 12, 1)).astype("float32")
    np.save(os.path.join(OUT, "capsnet_keras_input.npy"), images)
    np.save(os.path.join(OUT, "capsnet_keras_output.npy"), np.asarray(evaluation.predict(images, verbose=0)[0]))
    images_for(evaluation, "capsnet_keras_train")
    for model, name in [(train, "capsnet_keras_train"), (evaluation, "capsnet_keras_eval")]:
        model.save(os.path.join(OUT, name + ".keras"))
        model.save(os.path.join(OUT, name + ".h5"))
    train.save_weights(os.path.join(OUT, "capsnet_keras.weights.h5"))
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(os.path.join(OUT, "capsnet_keras_weights_keras2.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, train)
    with open(os.path.join(OUT, "capsnet_keras_train.json"), "w") as f:
        f.write(train.to_json())

    inner = keras.Model(x, [digitcaps, lengths], name="capsnet")
    image = keras.Input((12, 12, 1))
    label = keras.Input((3,))
    capsules, class_lengths = inner(image)
    nested = keras.Model([image, label], [class_lengths, decoder(Mask()([capsules, label]))], name="capsnet_nested")
    for suffix in [".keras", ".h5"]:
        nested.save(os.path.join(OUT, "capsnet_keras_nested" + suffix))


def efficient_capsnet():
    """Efficient-CapsNet as its repository builds it (models/efficient_capsnet_graph_mnist.py), in
    small: ReLU convolutions each followed by a batch normalization, PrimaryCaps (a depthwise
    convolution over the whole grid), FCCaps and the lengths, a model with two outputs (capsules,
    lengths) nested in the training model with the label input, Mask, the noise input and the
    Dense generator. Saved as the CapsNet itself, as the training model (nested), and as the
    training model's weights only in Keras 2's layout (what its repository publishes) with its
    to_json() architecture; Keras's class capsules and lengths for three inputs."""
    capsnet, generator = efficient_capsnet_graph((14, 14, 1), [(4, 3), (8, 3)], (8, 5, 4, 2), 3, 4, 16)
    image = keras.Input((14, 14, 1))
    label = keras.Input((3,))
    noise = keras.Input((3, 4))
    capsules, lengths = capsnet(image)
    noised = keras.layers.Add()([capsules, noise])
    train = keras.Model([image, label], [lengths, generator(Mask()([capsules, label]))],
                        name="Efficient_CapsNet_Generator")
    play = keras.Model([image, label, noise], [lengths, generator(Mask()([noised, label]))], name="play")
    randomize(capsnet)
    randomize(generator)
    x = rng.uniform(0.0, 1.0, size=(3, 14, 14, 1)).astype("float32")
    np.save(os.path.join(OUT, "efficient_capsnet_input.npy"), x)
    predicted_capsules, predicted_lengths = capsnet.predict(x, verbose=0)
    np.save(os.path.join(OUT, "efficient_capsnet_output.npy"), np.asarray(predicted_lengths, dtype="float32"))
    np.save(os.path.join(OUT, "efficient_capsnet_capsules.npy"), np.asarray(predicted_capsules, dtype="float32"))
    images_for(train, "efficient_capsnet")
    for model, name in [(capsnet, "efficient_capsnet"), (train, "efficient_capsnet_train"),
                        (play, "efficient_capsnet_play")]:
        model.save(os.path.join(OUT, name + ".keras"))
        model.save(os.path.join(OUT, name + ".h5"))
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(os.path.join(OUT, "efficient_capsnet_weights_keras2.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, train)
    with open(os.path.join(OUT, "efficient_capsnet_train.json"), "w") as f:
        f.write(train.to_json())


def efficient_capsnet_smallnorb():
    """Efficient-CapsNet's smallNORB model in small: two-channel images, convolutions each with a
    LeakyReLU and TensorFlow Addons' InstanceNormalization, PrimaryCaps, FCCaps of five classes; as
    the CapsNet itself (.keras and .h5), with Keras's class lengths for three inputs."""
    capsnet = efficient_capsnet_smallnorb_graph((16, 16, 2), [(8, 5, 2), (16, 3, 1)], (16, 4, 4, 4), 5, 8)
    randomize(capsnet)
    x = rng.uniform(0.0, 1.0, size=(3, 16, 16, 2)).astype("float32")
    np.save(os.path.join(OUT, "efficient_capsnet_smallnorb_input.npy"), x)
    predicted_capsules, predicted_lengths = capsnet.predict(x, verbose=0)
    np.save(os.path.join(OUT, "efficient_capsnet_smallnorb_output.npy"), np.asarray(predicted_lengths, dtype="float32"))
    images_for(keras.Model(capsnet.inputs, capsnet.outputs[1]), "efficient_capsnet_smallnorb")
    capsnet.save(os.path.join(OUT, "efficient_capsnet_smallnorb.keras"))
    capsnet.save(os.path.join(OUT, "efficient_capsnet_smallnorb.h5"))


def deflated():
    """Keras stores its archive's entries uncompressed; users who re-zip one get deflate."""
    with zipfile.ZipFile(os.path.join(OUT, "tiny_sequential.keras")) as source, \
            zipfile.ZipFile(os.path.join(OUT, "tiny_sequential_deflated.keras"), "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, source.read(item.filename))


def weights_only(model):
    """What save_weights writes, in Keras 3's layout and in Keras 2's (which Keras 3's legacy HDF5
    saver still writes), with the architecture as model.to_json() gives it; and that architecture
    with every layer renamed, as forks rename layers in code after training."""
    model.save_weights(os.path.join(OUT, "weights_only.weights.h5"))
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(os.path.join(OUT, "weights_only_keras2.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    config = model.to_json()
    with open(os.path.join(OUT, "tiny_sequential.json"), "w") as f:
        f.write(config)
    renamed = json.loads(config)
    for index, layer in enumerate(renamed["config"]["layers"]):
        layer["config"]["name"] = f"renamed_{index}"
    with open(os.path.join(OUT, "tiny_sequential_renamed.json"), "w") as f:
        json.dump(renamed, f)


def damaged(model):

    unsupported = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3),
                                    keras.layers.MaxPooling2D(), Length()])
    unsupported.save(os.path.join(OUT, "unsupported_layer.h5"))

    tanh = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="tanh")])
    tanh.save(os.path.join(OUT, "unsupported_activation.h5"))

    path = os.path.join(OUT, "shape_mismatch.h5")
    with open(os.path.join(OUT, "tiny_sequential.h5"), "rb") as source, open(path, "wb") as target:
        target.write(source.read())
    with h5py.File(path, "r+") as f:
        group = f["model_weights/conv2d/tiny_sequential/conv2d"]
        del group["kernel"]
        group.create_dataset("kernel", data=np.zeros((3, 3, 1, 5), dtype="float32"))


def foreign():
    """Files of the formats people try instead of Keras's, laid out as their writers lay them out:
    tf.saved_model.save's directory, torch.save's zip (PyTorch 1.6 and later) and its older bare
    pickle (which starts with the magic number 0x1950a86a20f9469cfc6c), a TFLite flatbuffer and an
    ONNX protobuf. Neither TensorFlow nor PyTorch is installed here, so their headers are written
    as those formats define them."""
    saved = os.path.join(OUT, "saved_model")
    os.makedirs(os.path.join(saved, "variables"), exist_ok=True)
    with open(os.path.join(saved, "saved_model.pb"), "wb") as f:
        f.write(bytes([0x08, 0x01, 0x12, 0x00]))
    with zipfile.ZipFile(os.path.join(OUT, "checkpoint.pt"), "w") as z:
        z.writestr("checkpoint/data.pkl", pickle.dumps({"conv.weight": 0}, protocol=2))
        z.writestr("checkpoint/version", "3\n")
        z.writestr("checkpoint/data/0", bytes(16))
    with open(os.path.join(OUT, "legacy_checkpoint.pt"), "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2))
    with open(os.path.join(OUT, "model.tflite"), "wb") as f:
        f.write(struct.pack("<I", 28) + b"TFL3" + bytes(24))
    with open(os.path.join(OUT, "model.onnx"), "wb") as f:
        f.write(bytes([0x08, 0x07, 0x12, 0x04]) + b"keras")


model = sequential()
functional()
leaky()
batch_norm()
capsnet_keras()
efficient_capsnet()
efficient_capsnet_smallnorb()
deflated()
damaged(model)
weights_only(model)
foreign()
