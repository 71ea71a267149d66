"""The default build recipe in one file: every default, why, and the figure that chose it.

As Flax's configs/default.py: the config classes (ModelConfig, AugmentConfig, TrainConfig,
BuildConfig, ReclusterConfig) and the helpers that take a default (fit_whitening, fine_tune,
choose_nprobe, the KMeans fits) read their defaults from here, so each number has one
source. Figures are from BENCHMARKS.md and benchmarks/results/*.json; "not swept" marks a
default no measurement has compared against another value (the suite's figures are with it).
Plain constants only: every room may import this, and it imports nothing.

CLI flags: `--flip` (build, train) and `--whiten-power` (build) are the two defaults whose
best value depends on the collection rather than on the model, each with a measured trade-off
(below); `--size`, `--epochs` and `--seed` existed before. The rest stay in code
(BuildConfig, TrainConfig, AugmentConfig for a Python caller): they were tuned for the base
model and no collection is known to want another value.
"""

from __future__ import annotations

# --- Model: the architecture of the shipped base (encoder/base/model.json) -----------------
# A collection fine-tunes the base, so these must match it; another --size trains from scratch.
IMAGE_SIZE = 64  # the base's input; a 512px JPEG decodes to it in 0.57 ms with draft (GUIDE §6)
# 4x4 patches -> the first width: full-resolution convs' backward passes dominated training on
# XLA CPU, and the stem halved the encoder's step (profiled); with the narrow decoder below,
# training runs 3.93x the plain autoencoder's images/s (BENCHMARKS.md, "Encoder speed").
STEM = 4
WIDTHS = (64, 128, 256)  # stride-2 3x3 convs after the stem: the base's; not swept
EMBED_DIM = 128  # the bottleneck: the base's (whitening then keeps 96 of it); not swept
# Narrow, one upsampling per width (32x32 output): full-resolution decoder convs cost 4x the
# encoder and add nothing to the neighbours; this one cut the decoder's cost about 6x.
DECODER_WIDTHS = (128, 64, 32)
NORMALIZE = True  # L2-normalised, so the store's squared L2 ranks by cosine
# Every stage's average-pooled features (a 2x2 grid of the later ones): a shape a few pixels
# off still lands near. Flatten + from scratch + no whitening scored icons recall@10 0.058
# against the current 0.092 (`retrieval_quality.py --from-scratch --head flatten
# --whiten-dim 0`).
HEAD = "pooled"

# --- Fine-tuning (encoder/train.py TrainConfig, encoder/pretrained.py) ----------------------
# At most this many sampled images: training time stops growing with the collection (build of
# 5,000 / 20,000 / 100,000 images: train 255 / 256 / 222 s; BENCHMARKS.md, "Build").
FINE_TUNE_IMAGES = 5000
# Epochs when --epochs is not given, on 5,000 images or more: MNIST-5000 precision@10 0.952
# at 9 (5: 0.943, 7: 0.949) and a 5,000-image build still trains in under 3 minutes on 2 cores.
AUTO_EPOCHS = 9
# Smaller sets train at least this many steps, 9 epochs' budget at 5,000 images: 2,000 photo
# crops' near-duplicate top-1 went from 0.265 (141 steps) to 0.326 (391 steps).
MIN_STEPS = 350
BATCH_SIZE = 128  # the batch every figure here was measured at; not swept
# Adam with warmup and cosine decay. A quarter of it (at temperature 0.1) gave MNIST 0.941
# against 0.943 (benchmarks/results/build_recipe_3b4e6cf0.json). From the natural-pairs base
# less fine-tuning keeps more of its style invariance (cross-style recall@10: 0.212 at this
# rate, 0.337 at 2e-4, 0.472 with none, TrainConfig(epochs=0)), but MNIST needs it: 0.955,
# 0.940, 0.912 (benchmarks/results/retrieval_quality_*pairs_e8_*.json; BENCHMARKS.md).
LEARNING_RATE = 2e-3
WARMUP_EPOCHS = 0.5  # the warmup of that schedule; not swept
PATIENCE = 3  # epochs without MIN_DELTA relative improvement before stopping early; not swept
MIN_DELTA = 0.01
RECON_WEIGHT = 1.0  # denoising reconstruction of the clean crop
# NT-Xent between two views, as strong as reconstruction. 1.0 and 0.1 scored alike (MNIST
# precision@10 0.864 and 0.872 at temperature 0.2, from scratch, 4 epochs); not swept since.
CONTRAST_WEIGHT = 1.0
# 0.5 against 0.2 on MNIST (0.94 against 0.86, from scratch). From the base, 0.2 gained icons
# (0.098 against 0.092) but put MNIST on its 0.95 floor (0.951), 0.1 cost MNIST 0.943
# (BENCHMARKS.md, "Tried and not adopted"; benchmarks/results/build_recipe_t02_7870ffd9.json).
# From the natural-pairs base, 0.1 kept cross-style recall@10 0.321 against 0.212 (MNIST not
# measured; retrieval_quality_crossstyle_pairs_e8_t01.json).
TEMPERATURE = 0.5
# Natural pairs (benchmarks/pretrain_pairs.py; builds have none, so these apply only when train()
# is given group ids): the multi-positive term as strong as the view term, and half of each batch
# drawn as two members of a group. Not swept: the first pair run used them (cross-style recall@10
# in process 0.045 -> 0.368 after one epoch, benchmarks/results/pairs_check_epoch_001.json).
PAIR_WEIGHT = 1.0
PAIR_SHARE = 0.5

# --- Training views (encoder/augment.py AugmentConfig) --------------------------------------
# Crops keeping 70-100% of the area, never flipped: on MNIST flips with 60-100% crops gave
# precision@10 0.858, no flips with 70-100% crops 0.943.
CROP_AREA = (0.7, 1.0)
CROP_ASPECT = (0.8, 1.25)  # not swept
# Flip probability. A flag (--flip): mirrored digits and text are other shapes (MNIST 0.858
# with flips), but a collection whose copies are mirrored (product shots, photos) may want
# them; the default's mirrored near-duplicate top-1 is 0.300 against edited 0.530.
FLIP = 0.0
ROTATE_DEG = 15.0  # +-15 degrees, as the near-duplicate suite's edits; not swept
BRIGHTNESS = 0.3  # +-30%, as the near-duplicate suite's colour edits; not swept
CONTRAST = 0.3
SATURATION = 0.3
# Grey views 20% of the time, as the base was pretrained: clip art precision@10 0.696 against
# 0.685 with none, edited near-duplicate recall@10 0.637 against 0.620, icons 0.092 against
# 0.091, mirrored top-1 0.300 against 0.330 (benchmarks/results/
# retrieval_quality_7870ffd9_grey02.json against retrieval_quality_7870ffd9_p025.json).
GRAYSCALE = 0.2
BLUR = 0.3  # probability of a 3x3 Gaussian blur of random strength; not swept
NOISE = 0.03  # std of the Gaussian noise on the encoder's input (denoising); not swept
JPEG = 0.3  # probability of starting from a JPEG re-compressed copy; not swept
JPEG_QUALITY = 30  # the near-duplicate suite's q30 edit

# --- Whitening (encoder/whitening.py), fitted on the collection after training --------------
# PCA-whitened to 96 dimensions: about +0.07 recall@10 on a held-out set (GUIDE §7).
WHITEN_DIM = 96
# Each direction divided by its variance to this power (0.5: full whitening). 0.25 beat 0.5
# on every set: MNIST 0.954 against 0.924, icons 0.084 against 0.081, mirrored top-1 0.309
# against 0.257 (benchmarks/results/build_recipe_3b4e6cf0.json). A flag (--whiten-power):
# sets differ in how much (0.375 in that run: icons 0.085 against 0.084, MNIST 0.948 against
# 0.954).
WHITEN_POWER = 0.25
MIN_IMAGES_PER_DIM = 4  # fewer images per output dimension: no whitening (unstable covariance)

# --- Clusters and nprobe (indexer/clustering.py) --------------------------------------------
# `--clusters auto` tries K_CANDIDATES values of k spaced geometrically over this band of
# sqrt(n), the IVF rule of thumb, within [2, K_MAX], and keeps the best silhouette: silhouette
# alone favours very small k, which makes routing useless (docs/index.md).
K_BAND = (0.25, 2.0)
K_CANDIDATES = 8
K_MAX = 256
SILHOUETTE_SAMPLE = 2_000  # points each candidate's silhouette is computed on
CHOOSE_K_FIT_SAMPLE = 20_000  # vectors each candidate k is fitted on: auto stays fast
KMEANS_FIT_SAMPLE = 50_000  # vectors the chosen k is fitted on
# Above this k clusters are for routing (one random start, 25 Lloyd iterations: about 3 s for
# k=256 on 50,000 x 256, where k-means++ seeding alone took about 100 s); at or below it a
# person reads them (3 k-means++ starts, up to 100 iterations).
ROUTING_K = 32
# The default nprobe is the smallest whose recall@10 against exact search reaches this on
# NPROBE_SAMPLE stored vectors, plus NPROBE_MARGIN (the sample's estimate wavers by about
# that): 100K vectors, nlist 256 -> nprobe 12, recall 0.951 (BENCHMARKS.md, "Index").
TARGET_RECALL = 0.95
NPROBE_MARGIN = 0.01
NPROBE_SAMPLE = 500

# --- The collection map (indexer/map_compute.py), computed at build, recluster, `lookalike map` --
# t-SNE (openTSNE) on at most this many images; the rest are placed at the mean of their nearest
# sampled neighbours. At 100K images: 27.6 CPU-s (the limit is 2 minutes on 2 cores);
# 10,000 cost 40.7 CPU-s for the same blob purity (1.00) and kNN kept (0.011); t-SNE of all
# 20,000 already cost 57 CPU-s (benchmarks/map_bench.py; BENCHMARKS.md, "Map").
MAP_SAMPLE = 5_000
MAP_NEIGHBOURS = 10  # sampled neighbours whose mean places an image (also images added later)
MAP_PERPLEXITY = 30  # openTSNE's default, and scikit-learn's; not swept
# A recluster recomputes the map (its neighbourhoods are the embedding's, not the clusters', so
# the old one stays readable; `recluster --no-map` keeps it, at 100K saving the 27.6 CPU-s above).
MAP_AT_RECLUSTER = True
