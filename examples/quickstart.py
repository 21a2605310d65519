"""The README's API tour, runnable: python examples/quickstart.py"""

import numpy as np

import fastembed_core as fe

model = fe.StaticModel.default()  # bundled, offline: 256 dims, 2-bit ternary table
print(model)

docs = [line.strip() for line in open(__file__.replace("quickstart.py", "sentences.txt")) if line.strip()]
vectors = model.encode(docs)  # float32 [8, 256], L2-normalised
codes = model.encode(docs, precision="ubinary")  # uint8 [8, 32]: 1 bit per dimension

index = fe.BinaryIndex(model.dim)  # codes + float vectors for rescoring
index.add(vectors)
scores, ids = index.search(model.encode(["how do I shrink a file"]), k=2)
print("best:", docs[ids[0, 0]], round(float(scores[0, 0]), 3))

# The kernels underneath, usable on their own:
ids_, offsets = model.tokenize(docs)  # flat int32 ids + int64 CSR offsets
table = np.random.default_rng(0).standard_normal((model.vocab_size, 64)).astype(np.float16)
pooled = fe.gather_mean(table, ids_, offsets, normalize=True)  # float32 [8, 64]
dist, nn = fe.hamming_topk(codes[:1], codes, k=3)  # exact; ties -> smaller index
w = fe.ternarize(np.random.default_rng(1).standard_normal((1536, 384)).astype(np.float32))
y = fe.ternary_matmul(np.random.default_rng(2).standard_normal((4, 384)).astype(np.float32), w)  # [4, 1536]
print(pooled.shape, nn[0].tolist(), y.shape, f"{w.nbytes} bytes vs {1536 * 384 * 4} in float32")
print(fe.capabilities()["kernels"]["hamming_topk"]["active"])
