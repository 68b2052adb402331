#!/usr/bin/python3
"""Edits copies of a tiny model directory's video-guardrail weights (HDF5, in place) so that the
pipeline's tests can see the guardrail act; random tiny models pass every frame and find no face.

  edit_guardrail_models.py [--unsafe video_content_filter.h5] [--faces face_blur.h5]

--unsafe: the content filter's classifier always answers class 2 (Violence): every frame unsafe.
--faces:  RetinaFace's class heads make every prior a face: face blur rewrites the frames."""
import argparse

import h5py


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unsafe", help="a video_content_filter.h5 to make block every frame")
    ap.add_argument("--faces", help="a face_blur.h5 to make find faces everywhere")
    a = ap.parse_args()
    if a.unsafe:
        with h5py.File(a.unsafe, "a") as f:  # the classifier's last layer: class 2 always wins
            v = f["network.layers.6.bias"][()]
            v[2] += 1000.0
            f["network.layers.6.bias"][...] = v
    if a.faces:
        with h5py.File(a.faces, "a") as f:  # (background, face) logits of every prior: face
            for k in f.keys():
                if k.startswith("ClassHead.") and k.endswith(".bias"):
                    v = f[k][()]
                    v[0::2] -= 20.0
                    v[1::2] += 20.0
                    f[k][...] = v


if __name__ == "__main__":
    main()
