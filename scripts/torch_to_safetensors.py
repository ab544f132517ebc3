#!/usr/bin/python3
"""Converts a PyTorch checkpoint (.pth / .pt) to safetensors, the format Ferry loads weights from.

    scripts/torch_to_safetensors.py IN.pth OUT.safetensors [--prefix-strip module.]

IN may hold a state dict, a whole pickled model, or a dict with the state dict under "state_dict",
"model" or "model_state_dict". Names are kept as PyTorch writes them (torchvision's names), so
`ferry models run --arch resnet50 --weights OUT.safetensors` loads them by name. Debian packages no
python3-safetensors, so the file is written here, following the format's specification: an 8-byte
little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} padded with spaces
to a multiple of 8 bytes, then the tensors' bytes, little-endian, row-major, in name order.

Also importable: save_file(dict of name -> tensor, path, metadata=None).
"""
import json
import struct
import sys

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def save_file(tensors, path, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in DTYPES:
            raise SystemExit(f"{path}: tensor '{name}' has dtype {t.dtype}, which safetensors cannot hold")
        data = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    import os
    os.replace(tmp, path)


def state_dict_of(obj, source):
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
                return state_dict_of(obj[key], source)
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise SystemExit(f"{source}: no state dict found (a dict of tensors, a model, or one under 'state_dict')")


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    strip = "module."
    if "--prefix-strip" in argv:
        strip = argv[argv.index("--prefix-strip") + 1]
        args.remove(strip)
    if len(args) != 2:
        raise SystemExit(__doc__)
    src, dst = args
    sd = state_dict_of(torch.load(src, map_location="cpu"), src)
    sd = {(k[len(strip):] if strip and k.startswith(strip) else k): v for k, v in sd.items()}
    save_file(sd, dst, {"format": "pt", "source": src})
    print(f"{dst}: {len(sd)} tensors")


if __name__ == "__main__":
    main(sys.argv[1:])
