# Yosinski et al., How transferable are features in deep neural networks?, NeurIPS 2014, on Ferry's
# data: the classes of a data set split into halves A = {0,1,2,3,4} and B = {5,6,7,8,9} (relabelled
# 0..4 in that order), Ferry's LeNet (conv1, conv2, fc1, fc2, classifier: 5 layers, so n = 1..4).
# Per data set and seed: base A and base B trained from scratch on their half; for every n, with the
# first n layers copied from a base network and the rest freshly initialised, trained on B:
#   BnB  (from base B, copied layers frozen)   BnB+  (from base B, everything fine-tuned)
#   AnB  (from base A, copied layers frozen)   AnB+  (from base A, everything fine-tuned)
# Accuracy is on B's test half after the last epoch (no selection). Sourced by run.sh.

datasets=(fashion)  # run.sh --mnist adds mnist
seeds=(1 2 3)
arch=lenet
layers=5            # ferry train --freeze-layers 1 prints them: features.0 .. classifier.4
# A half holds 30,000 Fashion-MNIST or 4,000 MNIST training images. Sized for 2 shared CPU cores,
# where LeNet trains at 150-700 images/s with other work running: a Fashion-MNIST run is 150 steps
# of 64 (9,600 images, a third of a pass: ferry train --iters-per-epoch), an MNIST run 2 passes
# (124 steps). ferry train's optimiser defaults for every run: SGD momentum 0.9, lr 0.05
# cosine-annealed over the run, weight decay 5e-4.
epochs_fashion=1
iters_fashion=150
epochs_mnist=2
iters_mnist=0       # 0: one pass per epoch
batch=64
threads=2
# The transferred networks train with seed + 100: their fresh upper layers and their batch order are
# not those of the base network they copy from.
transfer_seed_offset=100
