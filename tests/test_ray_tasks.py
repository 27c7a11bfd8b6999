"""The one Ray integration's choices, without Ray: a task's resources and threads."""

from tf_style import ray_tasks


def test_a_run_that_must_have_a_gpu_asks_for_one():
    plain = ray_tasks.TaskResources(cpus=2.0, gpus=0.0)
    assert plain.for_device("gpu").gpus == 1.0 and plain.for_device("gpu").cpus == 2.0
    assert plain.for_device("auto") == plain and plain.for_device("cpu") == plain
    shared = ray_tasks.TaskResources(gpus=0.5)
    assert shared.for_device("gpu") == shared  # a share the user chose is kept


def test_tensorflow_is_held_to_the_tasks_cpus():
    assert ray_tasks.thread_environment(3) == {"TF_NUM_INTRAOP_THREADS": "3",
                                               "TF_NUM_INTEROP_THREADS": "3"}
    assert ray_tasks.thread_environment(0.5)["TF_NUM_INTRAOP_THREADS"] == "1"
