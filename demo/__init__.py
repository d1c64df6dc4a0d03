"""Runnable demos that train small networks on CPU and write one netviz run each.

Run all four with ``python -m demo --logdir runs/demo``, then
``tensorboard --logdir runs/demo`` and open the NetViz tab.
"""
