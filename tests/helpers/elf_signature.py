#!/usr/bin/env python3
# tests/helpers/elf_signature.py [--legacy] FILE... - an independent computation of the
# kernel signature (syzkaller's elfBinarySignature) with nothing but struct and hashlib,
# used by the tests to check builder/signature.c. Default: today's algorithm (SHA-256 of
# the sections' SHA-256 digests); --legacy: before 2022-06-23 (one SHA-256 over the
# sections' bytes). Prints "<hex>  <file>" per file; exit 1 on a malformed file.
import hashlib
import struct
import sys

SHF_ALLOC = 0x2
SHT_NOBITS = 8
SHT_NOTE = 7


def signature(data, legacy):
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    cls, enc = data[4], data[5]
    end = {1: "<", 2: ">"}[enc]
    if cls == 2:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        fmt = end + "IIQQQQIIQQ"
    elif cls == 1:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        fmt = end + "IIIIIIIIII"
    else:
        raise ValueError("bad class")
    if shnum == 0 and shoff:  # extended numbering: count in section 0's sh_size
        shnum = struct.unpack_from(fmt, data, shoff)[5]
    h = hashlib.sha256()
    n = 0
    for i in range(shnum):
        f = struct.unpack_from(fmt, data, shoff + i * shentsize)
        sh_type, sh_flags, sh_offset, sh_size = f[1], f[2], f[4], f[5]
        if not sh_flags & SHF_ALLOC or sh_type in (SHT_NOBITS, SHT_NOTE):
            continue
        if sh_offset + sh_size > len(data):
            raise ValueError("section past the end")
        section = data[sh_offset:sh_offset + sh_size]
        h.update(section if legacy else hashlib.sha256(section).digest())
        n += 1
    return h.hexdigest(), n


rc = 0
legacy = len(sys.argv) > 1 and sys.argv[1] == "--legacy"
for path in sys.argv[1 + legacy:]:
    try:
        with open(path, "rb") as fh:
            sig, n = signature(fh.read(), legacy)
        print(f"{sig}  {path}")
    except (ValueError, struct.error, KeyError) as e:
        print(f"elf_signature.py: {path}: {e}", file=sys.stderr)
        rc = 1
sys.exit(rc)
