"""Crafted files for the hostile-upload tests, generated in memory (nothing is checked in)."""
import io
import struct
import zlib

from PIL import Image

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


def image_bytes(fmt="JPEG", color=RED, size=(64, 48), mode="RGB", **save):
    image = Image.new(mode, size, color)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def noisy_jpeg(size=(256, 256)):
    """A JPEG with real entropy-coded data (so cutting it really truncates the scan)."""
    import random

    rng = random.Random(5)
    image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def noisy_png(size=(128, 128)):
    import random

    rng = random.Random(7)
    image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width, height, rows, bit_depth=8, color_type=2, idat=None):
    """A PNG written by hand: lets tests declare any header (bombs) or sample depth (16-bit RGB)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"".join(b"\x00" + row for row in rows), 6)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png16_rgb(color16, size=(32, 24)):
    """A 16-bit-per-sample RGB PNG of one colour (0..65535 per channel)."""
    width, height = size
    row = struct.pack(">" + "H" * 3 * width, *(color16 * width))
    return raw_png(width, height, [row] * height, bit_depth=16, color_type=2)


def png16_gray(level16, size=(32, 24)):
    width, height = size
    row = struct.pack(">" + "H" * width, *([level16] * width))
    return raw_png(width, height, [row] * height, bit_depth=16, color_type=0)


def png_header_bomb(width=100_000, height=100_000):
    """A few hundred bytes declaring 10 gigapixels: must be refused from the header, never decoded."""
    return raw_png(width, height, [], idat=zlib.compress(b"\x00" * 1024))


def jpeg_header_bomb(width=60_000, height=60_000):
    """A small valid JPEG whose frame header (SOF0) is patched to declare a huge size."""
    data = bytearray(image_bytes("JPEG", RED, (16, 16)))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def zero_png_bomb(side=3000):
    """A real, fully valid PNG of side x side black pixels: tiny on disk, big once decoded."""
    row = b"\x00" * side
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(b"\x00" + row) for _ in range(side)) + compressor.flush()
    return raw_png(side, side, [], bit_depth=8, color_type=0, idat=idat)


def corrupt_png_crc():
    data = bytearray(image_bytes("PNG", RED))
    data[29] ^= 0xFF  # inside the IHDR CRC
    return bytes(data)


def corrupt_png_idat():
    """Valid chunks and CRCs, but the compressed image data is garbage."""
    width, height = 32, 32
    return raw_png(width, height, [], idat=b"\x78\x9c" + bytes(range(256)) * 4)


def corrupt_jpeg_scan():
    """Valid JPEG headers, entropy-coded data replaced by a run of markers/garbage, no EOI."""
    data = bytearray(noisy_jpeg((64, 64)))
    sos = data.index(b"\xff\xda")
    return bytes(data[: sos + 20]) + b"\xff\xd0\xff\x00" * 50


def animated(fmt, frames=3, size=(32, 32)):
    images = [Image.new("RGB", size, color) for color in (RED, GREEN, BLUE)[:frames]]
    buffer = io.BytesIO()
    images[0].save(buffer, format=fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def multipage_tiff():
    return animated("TIFF")


def exif_rotated_jpeg(orientation=6):
    """Upright the picture is red on top, blue at the bottom. It is stored rotated, with an EXIF Orientation tag
    telling viewers how to turn it back."""
    upright = Image.new("RGB", (60, 90), BLUE)
    upright.paste(Image.new("RGB", (60, 45), RED), (0, 0))
    transpose = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}[orientation]
    stored = upright.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<script>alert(1)</script><rect width="64" height="64" fill="red"/></svg>'
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ZIP = b"PK\x03\x04" + b"\x00" * 26 + b"hello"
