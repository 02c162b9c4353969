# %% [markdown]
# # How a two-layer network learns to read digits
#
# This tutorial rebuilds the network of the blog post digitnet started from (Leo Gau,
# *Identify MNIST Digits With 97% Accuracy By Using A 2 Layer Neural Network*, 2021) line by
# line, derives its learning rule, checks every gradient, and then adds, one at a time,
# the changes that take it from the post's 97.5% past 98%: measuring what each one buys.
#
# It is a script (`docs/tutorial.py`, in jupytext's percent format: open it in Jupyter
# with jupytext, or run `python docs/tutorial.py`). The documentation build runs it, so
# every number and figure on this page was produced by that run, and the checks in it
# (`assert`) would stop the build if the math were wrong. It takes under a minute: the
# experiments use a tenth of MNIST and few epochs.
#
# The code it teaches lives in `src/digitnet/network.py` (forward, losses, backward: pure
# functions, each beside its derivative) and `src/digitnet/train.py` (`reference_step`:
# forward, loss, backward, update in a few lines).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import digitnet
from digitnet import network, train

mnist = digitnet.load_mnist()  # bundled with digitnet: no download
print("training images", mnist.x_train.shape, mnist.x_train.dtype,
      "labels", mnist.y_train.shape, "test images", mnist.x_test.shape)

# %% [markdown]
# Each image is 28x28 pixels, 0 (background) to 255 (ink). The network sees it as one row
# of 784 numbers. A few of them:

# %%
fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for ax, image, label in zip(axes, mnist.x_train[:10], mnist.y_train[:10], strict=True):
    ax.imshow(image, cmap="gray_r")
    ax.set_title(str(label))
    ax.axis("off")

# %% [markdown]
# ## 1. The forward pass
#
# The post's network has 784 inputs, 1000 hidden units and 10 outputs, and no biases:
#
#     layer_1 = relu(layer_0 @ weights_0_1)      # (1, 784) @ (784, 1000) -> (1, 1000)
#     layer_2 = layer_1 @ weights_1_2            # (1, 1000) @ (1000, 10) -> (1, 10)
#
# `relu(a) = max(a, 0)`: a hidden unit adds its evidence only when it is positive. Without
# it the two layers would collapse into one matrix, `x @ (W1 @ W2)`, a linear model. The
# predicted digit is the output with the largest value.
#
# digitnet writes the same thing with a row per image (n images at once), W1 and W2 for
# the post's `weights_0_1` and `weights_1_2`, and optional biases b1, b2:
#
#     h = relu(x @ W1 + b1)      # (n, 784) @ (784, H) -> (n, H)
#     z = h @ W2 + b2            # (n, H) @ (H, 10)    -> (n, 10)
#
# The post draws its weights with `np.random.seed(1)` and `np.random.random(shape) *
# 0.0001`. digitnet's `init="uniform"` draws the very same numbers:

# %%
rng = np.random.RandomState(1)  # the post's np.random.seed(1)
weights_0_1 = rng.random_sample((784, 1000)) * 0.0001
weights_1_2 = rng.random_sample((1000, 10)) * 0.0001

params = network.init_params(np.random.RandomState(1), 1000, init="uniform", biases=False,
                             dtype=np.float64)
assert np.array_equal(params["W1"], weights_0_1) and np.array_equal(params["W2"], weights_1_2)

layer_0 = mnist.x_train[:1].reshape(1, 784).astype(np.float64)  # raw 0..255, as in the post
layer_1 = np.maximum(layer_0 @ weights_0_1, 0)
layer_2 = layer_1 @ weights_1_2
h, z = network.forward(params, layer_0)
assert np.array_equal(h, layer_1) and np.array_equal(z, layer_2)
print("outputs of the untrained network for a", mnist.y_train[0], ":", np.round(z[0], 3))

# %% [markdown]
# ## 2. Two ways to score an answer
#
# Training needs one number that says how wrong the outputs `z` are for the label `y`,
# and its gradient `dz = dLoss/dz`, which says how each output should move.
#
# **Squared error** (the post): the goal is the one-hot row, 1 for the right digit and 0
# elsewhere, and
#
#     loss = 1/2 * sum((z - goal)^2)        dz = z - goal
#
# (the 1/2 makes the gradient exactly the post's `layer_2_delta = layer_2 - goal`).
#
# **Softmax cross-entropy** (modern training): the outputs become probabilities,
# `p = exp(z) / sum(exp(z))`, and the loss is minus the log of the probability of the
# right digit:
#
#     loss = -log(p[y])                      dz = p - goal
#
# The gradient is as simple as squared error's: differentiate `-z[y] + log(sum(exp(z)))`
# by `z[k]` and you get `-goal[k] + exp(z[k]) / sum(exp(z)) = p[k] - goal[k]`. What
# differs is what it pushes for: squared error wants the outputs to *equal* 0 and 1 and
# pulls a right answer with a large margin back down; cross-entropy only ever asks for
# more probability on the right digit, and pushes hardest where it is most wrong.
#
# A worked example to check by hand: three outputs `z = [2, 1, 0]`, the right answer is 0.

# %%
z = np.array([[2.0, 1.0, 0.0]])
y = np.array([0])
p = np.exp(z) / np.exp(z).sum()
print("p =", np.round(p, 4), " loss = -log p[0] =", round(-np.log(p[0, 0]), 4))
loss, dz = network.softmax_cross_entropy(z, y)
print("digitnet:", round(loss, 4), "dz =", np.round(dz, 4), "(p minus goal [1, 0, 0])")
assert np.allclose(dz, p - [1, 0, 0])

loss, dz = network.squared_error(z, y)
print("squared error:", loss, "dz =", dz, "(z minus goal: 1/2 (1 + 1 + 0) = 1)")

# %% [markdown]
# ## 3. Backpropagation, derived
#
# The chain rule, applied to each line of the forward pass from the last to the first.
# Write `a1 = x @ W1 + b1` for the hidden layer before relu.
#
# | forward | backward (given `dz`) | shapes |
# |---|---|---|
# | `z = h @ W2 + b2` | `dW2 = h.T @ dz`, `db2 = dz.sum(0)`, `dh = dz @ W2.T` | (H,10) (10,) (n,H) |
# | `h = relu(a1)` | `da1 = dh * (a1 > 0)` | (n,H) |
# | `a1 = x @ W1 + b1` | `dW1 = x.T @ da1`, `db1 = da1.sum(0)` | (784,H), (H,) |
#
# Why `dW2 = h.T @ dz`: `z[i, k] = sum_j h[i, j] W2[j, k]`, so `W2[j, k]` moves `z[i, k]`
# by `h[i, j]` for each image i, and the loss by `sum_i h[i, j] dz[i, k]`: that sum is the
# matrix product `h.T @ dz`. The same argument gives `dh` and `dW1`. relu passes the
# gradient through where it passed the value, and blocks it where it output 0: that is
# the post's `relu2deriv`. These are the lines of `network.backward`.
#
# A tiny network you can check with pencil and paper: 2 inputs, 2 hidden units, 2 outputs.

# %%
tiny = {"W1": np.array([[1.0, -1.0], [2.0, 1.0]]), "b1": np.array([0.0, 0.5]),
        "W2": np.array([[1.0, 0.0], [-1.0, 2.0]]), "b2": np.array([0.0, 0.0])}
x = np.array([[1.0, 1.0]])
h, z = network.forward(tiny, x)
# a1 = [1*1 + 1*2 + 0, 1*-1 + 1*1 + 0.5] = [3, 0.5];  h = relu(a1) = [3, 0.5]
# z  = [3*1 + 0.5*-1, 3*0 + 0.5*2] = [2.5, 1]
assert np.array_equal(h, [[3.0, 0.5]]) and np.array_equal(z, [[2.5, 1.0]])
loss, dz = network.squared_error(z, np.array([1]))  # goal [0, 1]: dz = z - goal = [2.5, 0]
grads = network.backward(tiny, x, h, dz)
# dW2 = h.T @ dz = [[3*2.5, 0], [0.5*2.5, 0]]      dh = dz @ W2.T = [2.5*1, 2.5*-1]
# da1 = dh * (a1 > 0) = [2.5, -2.5]                dW1 = x.T @ da1 = [[2.5, -2.5], [2.5, -2.5]]
assert np.array_equal(grads["W2"], [[7.5, 0.0], [1.25, 0.0]])
assert np.array_equal(grads["W1"], [[2.5, -2.5], [2.5, -2.5]])
assert np.array_equal(grads["b1"], [2.5, -2.5]) and np.array_equal(grads["b2"], [2.5, 0.0])
print("every gradient of the tiny network is as worked by hand")

# %% [markdown]
# And on a real network: compare each analytic gradient with a finite difference,
# `(loss(w + eps) - loss(w - eps)) / (2 eps)`, for a sample of weights of every parameter,
# with both losses. They agree to a millionth or better (what is left is the finite
# difference's own rounding): the derivation holds.

# %%
check_rng = np.random.default_rng(0)
small = network.init_params(check_rng, 16, init="he", dtype=np.float64)
xs = mnist.x_train[:8].reshape(8, 784) / 255.0
ys = mnist.y_train[:8]


def loss_of(params, loss_name):
    return network.LOSSES[loss_name](network.forward(params, xs)[1], ys)[0]


for loss_name in ("squared_error", "cross_entropy"):
    h, z = network.forward(small, xs)
    grads = network.backward(small, xs, h, network.LOSSES[loss_name](z, ys)[1])
    worst, checked = 0.0, 0
    for name, weights in small.items():
        flat = weights.reshape(-1)
        inked = np.flatnonzero(np.abs(grads[name].reshape(-1)) > 1e-4)  # weights that matter
        for i in check_rng.choice(inked, min(20, len(inked)), replace=False):
            checked += 1
            saved, eps = flat[i], 1e-5
            flat[i] = saved + eps
            up = loss_of(small, loss_name)
            flat[i] = saved - eps
            down = loss_of(small, loss_name)
            flat[i] = saved
            numeric = (up - down) / (2 * eps)
            worst = max(worst, abs(numeric - grads[name].reshape(-1)[i]) / abs(numeric))
    print(f"{loss_name:14s} largest relative difference over {checked} weights: {worst:.1e}")
    assert worst < 1e-6

# %% [markdown]
# ## 4. One training step
#
# With the gradients, a step of gradient descent moves every weight a little against its
# gradient: `W -= learning_rate * dW`. The whole step, as `train.reference_step` writes it
# (leaving out dropout and the optimizers' extras):
#
#     h, z = network.forward(params, xb)                       # forward
#     loss, dz = network.LOSSES[config.loss](z, yb)            # loss, and dLoss/dz
#     grads = network.backward(params, xb, h, dz)              # backward
#     optim.update(params, grads, opt_state, "sgd", lr)        # W -= lr * dW, for each W
#
# The post takes this step for one image at a time (`batch_size` 1), in dataset order,
# with learning rate 1e-5 on raw pixels. Here is the post's loop, literally, on 300 images,
# against digitnet's `train.reference_step` doing the same:

# %%
def post_epoch(w01, w12, images, labels, alpha=0.00001):
    """The post's NeuralNet.train inner loop, line for line."""
    for j in range(len(images)):
        layer_0 = images[j].reshape(1, 28 * 28)
        layer_1 = np.dot(layer_0, w01)
        layer_1 = (layer_1 > 0) * layer_1
        layer_2 = np.dot(layer_1, w12)
        goal = np.zeros(10)
        goal[labels[j]] = 1
        layer_2_delta = layer_2 - goal
        layer_1_delta = layer_2_delta.dot(w12.T) * (layer_1 > 0)
        w12 = w12 - (alpha * layer_1.T.dot(layer_2_delta))
        w01 = w01 - (alpha * layer_0.T.dot(layer_1_delta))
    return w01, w12


images, labels = mnist.x_train[:300].astype(np.float64), mnist.y_train[:300]
start = time.perf_counter()
w01, w12 = post_epoch(weights_0_1, weights_1_2, images, labels)
post_seconds = time.perf_counter() - start

seed_config = digitnet.preset("seed")
state = train.new_state(seed_config)  # the post's weights, drawn as above
for j in range(300):
    train.reference_step(state, images[j].reshape(1, 784), labels[j:j + 1], seed_config, 1e-5)
print("largest difference from the post's weights:",
      f"{max(np.abs(state.params['W1'] - w01).max(), np.abs(state.params['W2'] - w12).max()):.1e}")
print(f"the post's loop: {1000 * post_seconds / 300:.2f} ms per image")
assert np.allclose(state.params["W1"], w01, atol=1e-12)

# %% [markdown]
# ## 5. One image at a time, or a minibatch
#
# Per-sample SGD makes 60,000 updates an epoch, each a full 784 x 1000 matrix. A
# *minibatch* step averages the gradients of b images and makes one update: b times fewer
# updates, each a matrix product that a CPU runs far faster per image. Averaging divides
# the gradient by b, so to learn as much per image the learning rate is b times the
# per-sample one.
#
# digitnet's `seed` preset runs the post's per-sample algorithm exactly, but fast
# (`src/digitnet/seed.py`: blocks of 64 images, with their Gram matrix accounting for
# the updates made earlier in the block). Here are both on the first 10,000 training
# images, 3 epochs, a 256-unit hidden layer, measured on 10,000 *other* training images
# (validation: the test set stays untouched until the end):

# %%
x_sub, y_sub = mnist.x_train[:10000], mnist.y_train[:10000]
x_val, y_val = mnist.x_train[50000:], mnist.y_train[50000:]


def measure(config):
    """Train on the subset; validation accuracy (%) and seconds."""
    start = time.perf_counter()
    result = train.fit(config, x_sub, y_sub, test=(x_val, y_val))
    return 100 * result.test_accuracy, time.perf_counter() - start


small_run = {"hidden": 256, "epochs": 3, "val_split": 0, "threads": 1}
post_like = digitnet.preset("seed", **small_run)
minibatch = digitnet.preset("seed", **small_run, batch_size=32, shuffle=True, lr=32 * 1e-5)
measured = {"per-sample": measure(post_like), "minibatch": measure(minibatch)}
for name, (accuracy, seconds) in zip(["per-sample SGD, lr 1e-5", "minibatches of 32, lr 32e-5"],
                                     measured.values(), strict=True):
    print(f"{name:30s} validation {accuracy:.2f}%   {seconds:.1f} s")

# %% [markdown]
# About the same accuracy: the same learning per image, in 32 times fewer updates.
#
# ## 6. What each modern change buys
#
# Now the changes that make the default `fast` preset, added one at a time on the same
# subset (each with a learning rate that suits it, picked on these validation images):
#
# - **inputs scaled to 0..1** rather than 0..255, so a learning rate means the same for
#   every layer;
# - **softmax cross-entropy** instead of squared error (section 2);
# - **He initialisation and biases**: weights drawn with the spread that keeps a relu
#   layer's outputs the size of its inputs, and a bias per unit;
# - **Nesterov momentum and a one-cycle schedule**: each step keeps 0.9 of the previous
#   one's direction, and the learning rate rises to its peak then falls to zero;
# - **label smoothing**: the goal is 0.91 for the right digit and 0.01 elsewhere, so the
#   network is never pushed to infinite certainty;
# - **dropout**: in training, each hidden unit is switched off 30% of the time at random,
#   so no unit can rely on another (it pays over long runs: the `noaug` and `best`
#   presets train 30 and 150 epochs with it).

# %%
scaled = dict(small_run, batch_size=32, shuffle=True, input_scale=1 / 255, dtype="float32")
ladder = [  # the first two were measured above
    ("the post's algorithm (per-sample SGD)", measured["per-sample"]),
    ("+ minibatches of 32", measured["minibatch"]),
    ("+ inputs scaled to 0..1", digitnet.preset("seed", **scaled, lr=0.3)),
    ("+ softmax cross-entropy", digitnet.preset("seed", **scaled, lr=0.3, loss="cross_entropy")),
    ("+ He init and biases", digitnet.preset("seed", **scaled, lr=0.1, loss="cross_entropy",
                                             init="he", biases=True)),
    ("+ Nesterov momentum, one-cycle", digitnet.preset("fast", **small_run, batch_size=32,
                                                       label_smoothing=0.0)),
    ("+ label smoothing 0.1", digitnet.preset("fast", **small_run, batch_size=32)),
    ("+ dropout 0.3", digitnet.preset("fast", **small_run, batch_size=32, dropout=0.3)),
]
rows, previous = [], None
for name, config in ladder:
    accuracy, seconds = config if isinstance(config, tuple) else measure(config)
    change = "" if previous is None else f"{accuracy - previous:+.2f}"
    rows.append((name, accuracy, change, seconds))
    previous = accuracy
print(f"{'':40s} validation  change  seconds")
for name, accuracy, change, seconds in rows:
    print(f"{name:40s} {accuracy:9.2f}%  {change:>6s}  {seconds:7.1f}")

# %% [markdown]
# Not every change pays on its own, and on three epochs of a tenth of the data some cost
# a little: a change is judged by what it does *with* the others, over the run it is
# meant for. Together they take the same network from about 91% to about 96% here.
#
# ## 7. To 98% and beyond
#
# The `fast` preset on all 55,000 training images (5,000 held out for validation), with
# 1000 hidden units and batches of 128. Three epochs here, to keep this page quick
# (`digitnet train` runs six); the test set is measured once, at the end.

# %%
start = time.perf_counter()
fast = digitnet.Classifier(epochs=3).fit(mnist.x_train, mnist.y_train,
                                         test=(mnist.x_test, mnist.y_test))
for record in fast.history_:
    print(f"epoch {record['epoch']}  loss {record['loss']:.4f}  "
          f"validation {100 * record['val_accuracy']:.2f}%")
test_accuracy = fast.model_.metadata["test_accuracy"]
print(f"test accuracy {100 * test_accuracy:.2f}% after {time.perf_counter() - start:.0f} s")
assert test_accuracy >= 0.98  # the example doubles as an acceptance test

# %% [markdown]
# From here on it is more of everything: a wider hidden layer with dropout for 30 epochs
# (`digitnet train --preset noaug`), then training digits distorted afresh every epoch for
# 150 epochs (`digitnet train --preset best`, 99.36%): see
# [Training and presets](training.md).
#
# ## 8. What the hidden units learned
#
# Each hidden unit has 784 input weights, one per pixel: laid out as a 28x28 picture they
# show what the unit looks for. Red pixels turn the unit on when inked, blue ones turn it
# off; grey pixels are never inked in MNIST, so their weights never matter. Shown here
# are the units that matter most: their mean activation on the test images times the
# length of their outgoing weights (what `digitnet report` ranks by), each with the digit
# it votes for most.

# %%
model = fast.model_
hidden, _ = network.forward(model.params, model.config.input_scale
                            * mnist.x_test.reshape(-1, 784).astype(np.float32))
importance = hidden.mean(axis=0) * np.linalg.norm(model.params["W2"], axis=1)  # (H,)
top = np.argsort(-importance)[:24]
never_inked = ~mnist.x_train.reshape(-1, 784).any(axis=0)  # their weights never matter
colours = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")  # grey where never inked
fig, axes = plt.subplots(3, 8, figsize=(10, 4.2))
for ax, unit in zip(axes.flat, top, strict=True):
    weights = np.where(never_inked, np.nan, model.params["W1"][:, unit]).reshape(28, 28)
    limit = np.nanmax(np.abs(weights))
    ax.imshow(weights, cmap=colours, vmin=-limit, vmax=limit)
    ax.set_title(f"votes {model.params['W2'][unit].argmax()}", fontsize=9)
    ax.axis("off")

# %% [markdown]
# Most are not pictures of one digit: they are strokes and their absences, pieces of
# evidence that the output layer weighs. A unit that likes ink on the left and dislikes
# it in the middle says "not a 1" as much as "a 0".
#
# And the test images the network got wrong, with the answer it gave:

# %%
predicted = model.predict(mnist.x_test)
wrong = np.flatnonzero(predicted != mnist.y_test)
print(f"{len(wrong)} of {len(predicted)} test images misread")
fig, axes = plt.subplots(2, 10, figsize=(10, 2.6))
for ax, i in zip(axes.flat, wrong[:20], strict=True):
    ax.imshow(mnist.x_test[i], cmap="gray_r")
    ax.set_title(f"{mnist.y_test[i]} read {predicted[i]}", fontsize=9)
    ax.axis("off")

# %% [markdown]
# Many are digits a person would hesitate over too. Where to go next: `digitnet report`
# draws these plots for any model ([Evaluation and reports](evaluation.md)), and
# [the bundled model](builtin.md) shows how the same network is taught to read other
# people's handwriting and to say "not a digit".
