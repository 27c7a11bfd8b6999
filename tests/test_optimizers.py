"""The image's optimizers behind one interface, each against Keras's own or by hand."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from tf_style import optimizers

TARGET = np.linspace(0.0, 255.0, 12, dtype=np.float32).reshape(1, 2, 2, 3)


def loss_and_gradient(image):
    with tf.GradientTape() as tape:
        tape.watch(image)
        loss = tf.reduce_sum(tf.square(image - TARGET)) / 1e4
    return loss, tape.gradient(loss, image)


def stepper(optimizer, image):
    """One compiled step of `optimizer` on `image`, its state made first as the transfer
    makes it; returns a function taking `count` steps and giving their losses."""
    optimizer.build([image])

    @tf.function
    def step():
        loss, gradient = loss_and_gradient(tf.convert_to_tensor(image))
        optimizer.update(image, loss, gradient)
        return loss
    return lambda count: [float(step()) for _ in range(count)]


def steps(optimizer, image, count):
    return stepper(optimizer, image)(count)


@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_each_descends_and_adam_steps_as_keras_adam_does(name):
    image = tf.Variable(np.full((1, 2, 2, 3), 128.0, np.float32))
    optimizer = optimizers.make_optimizer(name, 1.0 if name == "lbfgs" else 2.0)
    losses = steps(optimizer, image, 8)
    assert losses[-1] < losses[0] * 0.9
    if name == "adam":
        reference_image = tf.Variable(np.full((1, 2, 2, 3), 128.0, np.float32))
        reference = keras.optimizers.Adam(learning_rate=2.0, beta_1=0.9, beta_2=0.999)
        for _ in range(8):
            _, gradient = loss_and_gradient(tf.convert_to_tensor(reference_image))
            reference.apply_gradients([(gradient, reference_image)])
        np.testing.assert_allclose(image.numpy(), reference_image.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "lbfgs"])
def test_forget_and_halve_rate(name):
    image = tf.Variable(np.full((1, 2, 2, 3), 128.0, np.float32))
    optimizer = optimizers.make_optimizer(name, 4.0)
    take = stepper(optimizer, image)
    take(3)
    assert optimizer.halve_rate() == 2.0 and float(optimizer.learning_rate) == 2.0
    optimizer.forget()
    # Forgotten, it takes the step a fresh optimizer at the same rate takes from there.
    fresh_image = tf.Variable(image.numpy())
    steps(optimizers.make_optimizer(name, 2.0), fresh_image, 1)
    take(1)
    np.testing.assert_allclose(image.numpy(), fresh_image.numpy(), rtol=1e-6)


def test_lbfgs_keeps_its_accepted_point_when_the_last_trial_is_worse():
    image = tf.Variable(np.full((1, 2, 2, 3), 128.0, np.float32))
    optimizer = optimizers.make_optimizer("lbfgs", 1.0)
    steps(optimizer, image, 4)
    accepted = float(optimizer.accepted_loss)
    assert optimizer.point_to_keep(image, lambda: accepted) is None  # not worse: keep it
    kept = optimizer.point_to_keep(image, lambda: accepted + 1.0)
    np.testing.assert_array_equal(kept.numpy(), tf.reshape(optimizer.accepted_position,
                                                           image.shape).numpy())
    adam = optimizers.make_optimizer("adam", 1.0)
    assert adam.point_to_keep(image, lambda: 1e9) is None


def test_a_checkpoint_of_keras_adam_restores_into_ours(tmp_path):
    """Runs checkpointed before the interface held a keras.optimizers.Adam."""
    image = tf.Variable(np.full((1, 2, 2, 3), 128.0, np.float32))
    before = keras.optimizers.Adam(learning_rate=2.0)
    for _ in range(3):
        _, gradient = loss_and_gradient(tf.convert_to_tensor(image))
        before.apply_gradients([(gradient, image)])
    path = tf.train.Checkpoint(image=image, optimizer=before).save(str(tmp_path / "ckpt"))
    restored_image = tf.Variable(np.zeros((1, 2, 2, 3), np.float32))
    ours = optimizers.make_optimizer("adam", 2.0)
    ours.build([restored_image])
    tf.train.Checkpoint(image=restored_image, optimizer=ours).restore(path).assert_consumed()
    for old, new in zip(before.variables, ours.variables):
        np.testing.assert_array_equal(old.numpy(), new.numpy())
