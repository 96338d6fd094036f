"""The CapsNet layers of the Keras models this package's tests and measurements read, shared by
make_fixtures.py (tiny models with random weights) and train_models.py (small models trained on
MNIST). Importing this module registers them with Keras; they save as Keras saves custom layers,
which is what the loader has to read in users' files. Keras's backend must be chosen before the
import (KERAS_BACKEND)."""
import keras
from keras import ops


def safe_sqrt(n):
    """sqrt(n) with a finite gradient at 0, where training meets it (a primary capsule over a blank
    border is exactly zero, and sqrt's gradient there is infinite); for every n of at least 1e-30
    it is sqrt(n) itself, so the float math is the plain one the loader implements."""
    return ops.sqrt(ops.maximum(n, 1e-30))


def plain_squash(s, axis=-1):
    n = ops.sum(s * s, axis=axis, keepdims=True)
    return s * safe_sqrt(n) / (1.0 + n)


def squash(vectors, axis=-1):
    """CapsNet-Keras's squash, with Keras's epsilon (1e-7) under the square root."""
    n = ops.sum(ops.square(vectors), axis=axis, keepdims=True)
    return n / (1 + n) / ops.sqrt(n + 1e-7) * vectors


@keras.saving.register_keras_serializable()
class PrimaryCapsule(keras.layers.Layer):
    """Conv2D with num_capsule*dim_capsule filters, reshaped to capsules, squashed."""

    def __init__(self, num_capsule, dim_capsule, kernel_size, strides, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.num_capsule, self.dim_capsule = num_capsule, dim_capsule
        self.kernel_size, self.strides, self.padding = kernel_size, strides, padding
        self.conv = keras.layers.Conv2D(num_capsule * dim_capsule, kernel_size, strides=strides,
                                        padding=padding, name="primarycap_conv2d")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        y = self.conv(x)
        y = ops.reshape(y, (-1, y.shape[1] * y.shape[2] * self.num_capsule, self.dim_capsule))
        return plain_squash(y)

    def get_config(self):
        config = super().get_config()
        config.update(num_capsule=self.num_capsule, dim_capsule=self.dim_capsule,
                      kernel_size=self.kernel_size, strides=self.strides, padding=self.padding)
        return config


@keras.saving.register_keras_serializable()
class Capsule(keras.layers.Layer):
    """Dynamic routing as the FloatModel article defines it; W is [J, I, D, Din]."""

    def __init__(self, num_capsule, dim_capsule, routings=3, **kwargs):
        super().__init__(**kwargs)
        self.num_capsule, self.dim_capsule, self.routings = num_capsule, dim_capsule, routings

    weight_name = "weights"
    squash = staticmethod(plain_squash)

    def build(self, input_shape):
        _, inputs, input_dim = input_shape
        self.w = self.add_weight(name=self.weight_name, shape=(self.num_capsule, inputs, self.dim_capsule, input_dim),
                                 initializer="glorot_uniform")

    def call(self, u):
        u_hat = ops.einsum("jidk,bik->bjid", self.w, u)
        b = ops.zeros(ops.shape(u_hat)[:3])
        for r in range(self.routings):
            c = ops.softmax(b, axis=1)
            v = self.squash(ops.einsum("bji,bjid->bjd", c, u_hat))
            if r < self.routings - 1:
                b = b + ops.einsum("bjid,bjd->bji", u_hat, v)
        return v

    def get_config(self):
        config = super().get_config()
        config.update(num_capsule=self.num_capsule, dim_capsule=self.dim_capsule, routings=self.routings)
        return config


@keras.saving.register_keras_serializable()
class Length(keras.layers.Layer):
    def call(self, v):
        return safe_sqrt(ops.sum(v * v, axis=-1))


@keras.saving.register_keras_serializable()
class CapsuleLayer(Capsule):
    """The CapsNet-Keras capsule layer as its forks define it: the same routing and layout, its
    weight named W, its squash with epsilon."""
    weight_name = "W"
    squash = staticmethod(squash)


@keras.saving.register_keras_serializable()
class Mask(keras.layers.Layer):
    """Keeps one capsule, by the label given as a second input or else the longest, and flattens."""

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            inputs, mask = inputs
        else:
            lengths = ops.sqrt(ops.sum(ops.square(inputs), -1))
            mask = ops.one_hot(ops.argmax(lengths, 1), ops.shape(inputs)[1])
        return ops.reshape(inputs * ops.expand_dims(mask, -1), (-1, inputs.shape[1] * inputs.shape[2]))


def capsnet_keras_graph(image_shape, filters, kernel, primary_capsules, primary_dim, classes, class_dim,
                        hidden, batch_size=None):
    """XifengGuo/CapsNet-Keras's capsulenet.py graph, in any size: a ReLU Conv2D, primary capsules as
    Conv2D (stride 2), Reshape([-1, D]) and Lambda(squash), a CapsuleLayer with three routings, the
    class lengths, and the Dense decoder that rebuilds the image from the masked capsules. Returns
    the image input, the class capsules, their lengths, the label input and the decoder."""
    image = keras.Input(image_shape, batch_size=batch_size)
    y = keras.layers.Conv2D(filters, kernel, activation="relu", name="conv1")(image)
    y = keras.layers.Conv2D(primary_capsules * primary_dim, kernel, strides=2, name="primarycap_conv2d")(y)
    y = keras.layers.Reshape((-1, primary_dim), name="primarycap_reshape")(y)
    y = keras.layers.Lambda(squash, name="primarycap_squash")(y)
    digitcaps = CapsuleLayer(classes, class_dim, routings=3, name="digitcaps")(y)
    lengths = Length(name="capsnet")(digitcaps)
    label = keras.Input((classes,), batch_size=batch_size)
    decoder = dense_decoder(classes * class_dim, hidden, image_shape, "decoder", "out_recon")
    return image, digitcaps, lengths, label, decoder


def dense_decoder(inputs, hidden, image_shape, name, output_name):
    """The Dense network both families rebuild the image with from the masked class capsules."""
    pixels = 1
    for size in image_shape:
        pixels *= size
    return keras.Sequential([
        keras.Input((inputs,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(pixels, activation="sigmoid"),
        keras.layers.Reshape(image_shape, name=output_name),
    ], name=name)


# Efficient-CapsNet (Mazzia, Salvetti and Chiaberge, 2021), its layers as EscVM/Efficient-CapsNet's
# utils/layers.py defines them: the class names, configuration keys and weight names its saves have.

def exp_squash(s, eps=1e-20):
    """Efficient-CapsNet's squash: (1 - 1/(e^|s| + eps)) * s / (|s| + eps)."""
    n = safe_sqrt(ops.sum(s * s, axis=-1, keepdims=True))
    return (1.0 - 1.0 / (ops.exp(n) + eps)) * (s / (n + eps))


@keras.saving.register_keras_serializable()
class PrimaryCaps(keras.layers.Layer):
    """F depthwise K x K filters (a Conv2D with groups = F, valid, no activation, stride s), the
    output read as N capsules of D values, squashed."""

    def __init__(self, F, K, N, D, s=1, **kwargs):
        super().__init__(**kwargs)
        self.F, self.K, self.N, self.D, self.s = F, K, N, D, s

    def build(self, input_shape):
        self.DW_Conv2D = keras.layers.Conv2D(self.F, self.K, strides=self.s, activation="linear",
                                             groups=self.F, padding="valid")
        self.DW_Conv2D.build(input_shape)

    def call(self, x):
        return exp_squash(ops.reshape(self.DW_Conv2D(x), (-1, self.N, self.D)))

    def get_config(self):
        config = super().get_config()
        config.update(F=self.F, K=self.K, N=self.N, D=self.D, s=self.s)
        return config


@keras.saving.register_keras_serializable()
class FCCaps(keras.layers.Layer):
    """Self-attention routing: predictions u[n, i] = u_i W[n, i] (W is [N, I, Din, D]), agreements
    c[n, i] = u[n, i] . sum_k u[n, k] / sqrt(D), softmax over the N output capsules, plus the bias
    b[n, i], the weighted sum over i, squash."""

    def __init__(self, N, D, **kwargs):
        super().__init__(**kwargs)
        self.N, self.D = N, D

    def build(self, input_shape):
        inputs, input_dim = input_shape[-2], input_shape[-1]
        self.W = self.add_weight(name="W", shape=(self.N, inputs, input_dim, self.D), initializer="he_normal")
        self.b = self.add_weight(name="b", shape=(self.N, inputs, 1), initializer="zeros")

    def call(self, x):
        u = ops.einsum("...ji,kjiz->...kjz", x, self.W)
        c = ops.einsum("...ij,...kj->...i", u, u)[..., None] / ops.sqrt(float(self.D))
        c = ops.softmax(c, axis=1) + self.b
        return exp_squash(ops.sum(u * c, axis=-2))

    def get_config(self):
        config = super().get_config()
        config.update(N=self.N, D=self.D)
        return config


@keras.saving.register_keras_serializable(package="Addons")
class InstanceNormalization(keras.layers.Layer):
    """TensorFlow Addons' InstanceNormalization (a GroupNormalization with one group per channel),
    which Efficient-CapsNet's smallNORB model uses, with the configuration keys and weight names its
    saves have: each image's channels normalized by their own mean and population variance over
    the positions, then gamma and beta, in tf.nn.batch_normalization's order of operations."""

    def __init__(self, groups=-1, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.groups, self.axis, self.epsilon, self.center, self.scale = groups, axis, epsilon, center, scale
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer=self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(name="beta", shape=(channels,), initializer=self.beta_initializer)

    def call(self, x):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        inverse = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            inverse = inverse * self.gamma
        offset = (self.beta if self.center else 0.0) - mean * inverse
        return x * inverse + offset

    def get_config(self):
        config = super().get_config()
        config.update(groups=self.groups, axis=self.axis, epsilon=self.epsilon, center=self.center,
                      scale=self.scale, beta_initializer=self.beta_initializer,
                      gamma_initializer=self.gamma_initializer)
        return config


def efficient_capsnet_smallnorb_graph(image_shape, filters, primary, classes, class_dim):
    """The Efficient-CapsNet smallNORB graph (models/efficient_capsnet_graph_smallnorb.py) in any
    size: `filters` convolutions (count, kernel, stride) without activation, each followed by a
    LeakyReLU with Keras's default slope and an InstanceNormalization, then PrimaryCaps(F, K, N, D),
    FCCaps(classes, class_dim) and the lengths."""
    image = keras.Input(image_shape)
    y = image
    for count, kernel, stride in filters:
        y = keras.layers.Conv2D(count, kernel, strides=stride)(y)
        y = keras.layers.LeakyReLU()(y)
        y = InstanceNormalization(axis=3, beta_initializer="random_uniform", gamma_initializer="random_uniform")(y)
    y = PrimaryCaps(*primary)(y)
    capsules = FCCaps(classes, class_dim)(y)
    lengths = Length(name="length_capsnet_output")(capsules)
    return keras.Model(image, [capsules, lengths], name="Efficient_CapsNet")


def efficient_capsnet_graph(image_shape, filters, primary, classes, class_dim, hidden):
    """The Efficient-CapsNet MNIST graph (models/efficient_capsnet_graph_mnist.py) in any size:
    `filters` ReLU convolutions, each followed by a batch normalization (the last with stride 2 and
    F filters), PrimaryCaps(F, K, N, D) over the whole remaining grid, FCCaps(classes, class_dim),
    and two outputs, the class capsules and their lengths; with the Dense generator the training
    model rebuilds the image with. `primary` is (F, K, N, D). Returns the CapsNet model and the
    generator."""
    image = keras.Input(image_shape)
    y = image
    for index, (count, kernel) in enumerate(filters):
        last = index == len(filters) - 1
        y = keras.layers.Conv2D(count, kernel, strides=2 if last else 1, activation="relu")(y)
        y = keras.layers.BatchNormalization()(y)
    y = PrimaryCaps(*primary)(y)
    capsules = FCCaps(classes, class_dim)(y)
    lengths = Length(name="length_capsnet_output")(capsules)
    capsnet = keras.Model(image, [capsules, lengths], name="Efficient_CapsNet")
    return capsnet, dense_decoder(classes * class_dim, hidden, image_shape, "Generator", "out_generator")
