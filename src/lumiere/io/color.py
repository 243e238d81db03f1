"""Colour metadata: what a source says (or what its size implies), and what we tag on output.

Values are FFmpeg's AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic
codes, the ones codec contexts and frames carry. PyAV's reformatter takes
swscale's own matrix codes, hence `reformat_matrix`.
"""

from dataclasses import dataclass

HD_HEIGHT = 720

SPC_RGB, SPC_BT709, SPC_UNSPECIFIED, SPC_FCC, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 0, 1, 2, 4, 5, 6, 7
SPC_BT2020_NCL, SPC_BT2020_CL = 9, 10
PRI_BT709, PRI_UNSPECIFIED, PRI_SMPTE170M = 1, 2, 6
TRC_BT709, TRC_UNSPECIFIED, TRC_SMPTE170M = 1, 2, 6
RANGE_MPEG, RANGE_JPEG = 1, 2

# AVColorSpace -> swscale SWS_CS_* (ITU709=1, FCC=4, ITU601=5, SMPTE240M=7, BT2020=9)
_SWS_MATRIX = {SPC_BT709: 1, SPC_FCC: 4, SPC_BT470BG: 5, SPC_SMPTE170M: 5, SPC_SMPTE240M: 7,
               SPC_BT2020_NCL: 9, SPC_BT2020_CL: 9}


@dataclass(frozen=True)
class ColorInfo:
    matrix: int
    primaries: int
    transfer: int
    full_range: bool

    @classmethod
    def bt709(cls) -> "ColorInfo":
        return cls(SPC_BT709, PRI_BT709, TRC_BT709, False)

    @classmethod
    def bt601(cls) -> "ColorInfo":
        return cls(SPC_SMPTE170M, PRI_SMPTE170M, TRC_SMPTE170M, False)

    @classmethod
    def for_size(cls, width: int, height: int) -> "ColorInfo":
        """What an untagged video of this size almost certainly is (BT.709 for HD and up)."""
        return cls.bt709() if height >= HD_HEIGHT or width >= 1280 else cls.bt601()

    @classmethod
    def from_codec(cls, codec_context) -> "ColorInfo":
        guess = cls.for_size(codec_context.width, codec_context.height)
        matrix = int(codec_context.colorspace)
        primaries = int(codec_context.color_primaries)
        transfer = int(codec_context.color_trc)
        full = int(codec_context.color_range) == RANGE_JPEG or (codec_context.pix_fmt or "").startswith("yuvj")
        return cls(
            matrix if matrix in _SWS_MATRIX else guess.matrix,
            primaries if primaries not in (0, PRI_UNSPECIFIED) else guess.primaries,
            transfer if transfer not in (0, TRC_UNSPECIFIED) else guess.transfer,
            full,
        )

    def for_output(self, height: int, input_height: int) -> "ColorInfo":
        """Keep the source's colour when the size class is unchanged; tag BT.709 once the output becomes HD."""
        if height >= HD_HEIGHT > input_height:
            return ColorInfo.bt709()
        return ColorInfo(self.matrix, self.primaries, self.transfer, False)

    @property
    def range(self) -> int:
        return RANGE_JPEG if self.full_range else RANGE_MPEG

    @property
    def reformat_matrix(self) -> int:
        return _SWS_MATRIX.get(self.matrix, 5)
