"""``python -m tests.remote.tensorboard_without_tf --logdir s3://...``: TensorBoard without TensorFlow.

With TensorFlow importable, TensorBoard reads log directories through
TensorFlow's file systems, and TensorFlow 2.16+ has no ``s3://`` one; without
it, TensorBoard uses its own file systems, whose S3 support (boto3,
``S3_ENDPOINT``) is what a TensorBoard-only install reads ``s3://`` with. The
test environment has TensorFlow installed (for the Keras callback), so this
entry point makes ``import tensorflow`` fail before TensorBoard starts.
"""

import sys

if __name__ == "__main__":
    sys.modules["tensorflow"] = None  # "import tensorflow" now raises ImportError
    from tensorboard.main import run_main

    run_main()
