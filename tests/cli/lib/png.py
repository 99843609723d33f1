# tests/cli/lib/png.py - a small PNG reader (python3 standard library only: zlib) for the
# screenshot checks of the HTML reports (tests/cli/lib/html-check.py): 8-bit RGB or RGBA,
# not interlaced, as headless Chromium writes them. read(path, rows=None) -> Image.
import struct
import zlib


class Image:
    def __init__(self, width, height, bpp, rows):
        self.width, self.height, self.bpp, self.rows = width, height, bpp, rows

    def pixel(self, x, y):
        """(r, g, b) at x, y."""
        r = self.rows[y]
        i = x * self.bpp
        return r[i], r[i + 1], r[i + 2]

    def region(self, x0, y0, x1, y1):
        """The pixels of [x0, x1) x [y0, y1), clipped to the image, row by row."""
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(self.width, int(x1)), min(self.height, int(y1))
        for y in range(y0, y1):
            for x in range(x0, x1):
                yield self.pixel(x, y)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read(path, rows=None):
    """Decode the PNG at path; only its first `rows` rows when given."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG file" % path)
    pos, idat = 8, []
    width = height = ctype = None
    while pos < len(data):
        (ln,) = struct.unpack(">I", data[pos:pos + 4])
        typ, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + ln]
        pos += 12 + ln
        if typ == b"IHDR":
            width, height, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or inter:
                raise ValueError("%s: only 8-bit RGB/RGBA, not interlaced" % path)
        elif typ == b"IDAT":
            idat.append(body)
        elif typ == b"IEND":
            break
    bpp = 4 if ctype == 6 else 3
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    n = height if rows is None else min(height, rows)
    out, prev = [], bytearray(stride)
    for y in range(n):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                if i >= bpp:
                    line[i] = (line[i] + _paeth(line[i - bpp], prev[i], prev[i - bpp])) & 255
                else:
                    line[i] = (line[i] + prev[i]) & 255
        elif f != 0:
            raise ValueError("%s: bad filter %d in row %d" % (path, f, y))
        out.append(line)
        prev = line
    return Image(width, n, bpp, out)
