"""Packaging for tb-netviz.

The base install is what TensorBoard needs to show the NetViz tab and what the
writer needs to write it; the frameworks come as extras so that a Keras user
never pulls in torch and a torch user never pulls in TensorFlow.
"""

from setuptools import find_packages, setup

TORCH = ["torch>=2.1"]
LIGHTNING = TORCH + ["lightning>=2.1"]
# The Trainer needs accelerate; transformers does not require it itself.
HF = TORCH + ["transformers>=4.46", "accelerate>=1.0"]
# Not in DEV: it builds against the installed torch, so scripts/setup.sh installs it
# with --no-build-isolation once torch is in place.
DEEPSPEED = TORCH + ["deepspeed>=0.14"]
KERAS = ["keras>=3.0", "tensorflow-cpu>=2.16; platform_machine=='x86_64'"]
# Remote log directories (s3:// and any fsspec URL): fsspec and S3's package; other
# protocols need their own (gcsfs for gs://, adlfs for az://), installed beside it.
REMOTE = ["fsspec>=2023.9", "s3fs>=2023.9"]
DEV = (
    LIGHTNING
    + HF
    + KERAS
    + REMOTE
    + [
        # a real S3 server for the remote tests, and the client TensorBoard reads s3:// with
        "boto3>=1.28",
        "moto[server]>=5.0",
        "captum>=0.7",  # the independent Grad-CAM reference of the torch tests
        "hypothesis>=6",
        "playwright>=1.40",
        "psutil>=5",
        "pytest>=7",
        "pytest-timeout>=2",
        "ruff>=0.4",
        "scikit-learn>=1.3",
        "wandb>=0.16",
    ]
)

setup(
    name="tb-netviz",
    version="0.1.0",
    description="See gradients, activations, feature maps and attention inside a network, in TensorBoard.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # The dashboard lives in frontend/ at the top of the repository and is
    # shipped inside the plugin package, so `pip install .` serves it.
    packages=find_packages(include=["tb_netviz", "tb_netviz.*"]) + ["tb_netviz.plugin.frontend"],
    package_dir={"tb_netviz.plugin.frontend": "frontend"},
    package_data={"tb_netviz.plugin": ["http_api.md"], "tb_netviz.plugin.frontend": ["*.js", "*.css"]},
    install_requires=[
        "google-crc32c>=1.5",
        "numpy>=1.24",
        "protobuf>=3.20",
        "tensorboard>=2.16",
        "werkzeug>=2.0",
    ],
    extras_require={
        "torch": TORCH,
        "lightning": LIGHTNING,
        "hf": HF,
        "deepspeed": DEEPSPEED,
        "keras": KERAS,
        "remote": REMOTE,
        "dev": DEV,
    },
    entry_points={"tensorboard_plugins": ["netviz = tb_netviz.plugin.loader:NetVizLoader"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
