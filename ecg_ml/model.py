"""The classifier's networks and their input: a compact xresnet1d (ours) and resnet1d_wang, the PTB-XL
benchmark's best single model (Wang et al. 2017, as configured by Strodthoff et al. 2020),
re-implemented as the side-by-side anchor.

Both read 100 Hz signals. Ours takes 10 s windows of 24 channels: the 12 leads in mV (each lead
centred on its median, no scaling, so voltage criteria keep their meaning) with NaN set to 0, and
12 availability masks (1 where the lead was recorded), so a printout photo's missing stretches are
told apart from a flat trace. The anchor takes 2.5 s windows of the 12 leads standardised with the
training set's mean and standard deviation, as the benchmark does.
"""

import torch
from torch import nn

from ecg_ml.labels import LABELS, STATEMENTS, SUPERCLASSES

__all__ = ["LABELS", "MODEL_FS", "STATEMENTS", "SUPERCLASSES", "build_model", "parameter_count"]

MODEL_FS = 100
CLIP_MV = 10.0


def masked_input(x: torch.Tensor) -> torch.Tensor:
    """x float32 [b, n, 12] mV, NaN where not recorded -> [b, 24, n]: centred leads, then masks."""
    available = torch.isfinite(x)
    median = torch.nanmedian(x, dim=1, keepdim=True).values.nan_to_num(0.0)
    centred = torch.where(available, x - median, torch.zeros((), dtype=x.dtype)).clamp(-CLIP_MV, CLIP_MV)
    return torch.cat([centred, available.to(x.dtype)], dim=2).transpose(1, 2).contiguous()


def standardised_input(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """The benchmark's input: (x - mean) / std over all training samples, NaN -> 0. [b, 12, n]."""
    z = ((x - mean) / std).nan_to_num(0.0, posinf=0.0, neginf=0.0)
    return z.transpose(1, 2).contiguous()


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)


class ConcatPoolHead(nn.Sequential):
    """Max and mean over time, then BN-dropout-linear twice (the benchmark's create_head1d)."""

    def __init__(self, features: int, outputs: int, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__(
            nn.BatchNorm1d(2 * features),
            nn.Dropout(dropout / 2),
            nn.Linear(2 * features, hidden),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(hidden),
            nn.Dropout(dropout),
            nn.Linear(hidden, outputs),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([features.amax(dim=2), features.mean(dim=2)], dim=1)
        return super().forward(pooled)


class BasicBlock(nn.Module):
    """Two convolutions and a shortcut. xresnet style (avg-pool then 1x1 conv on the shortcut, last
    BN zero-initialised) or torchvision style (strided 1x1 conv), as the anchor has it."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        kernels: tuple[int, int],
        xresnet: bool,
        squeeze_excite: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = _conv(c_in, c_out, kernels[0], stride)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = _conv(c_out, c_out, kernels[1])
        self.bn2 = nn.BatchNorm1d(c_out)
        if xresnet:
            nn.init.zeros_(self.bn2.weight)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(c_out) if squeeze_excite else None
        shortcut: list[nn.Module] = []
        if stride != 1 or c_in != c_out:
            if xresnet:
                if stride != 1:
                    shortcut.append(nn.AvgPool1d(stride, stride, ceil_mode=True))
                shortcut += [_conv(c_in, c_out, 1), nn.BatchNorm1d(c_out)]
            else:
                shortcut += [_conv(c_in, c_out, 1, stride), nn.BatchNorm1d(c_out)]
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        residual = self.shortcut(x)
        if residual.shape[2] != out.shape[2]:
            residual = residual[:, :, : out.shape[2]]
        return self.relu(out + residual)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=2))[:, :, None]


class XResNet1d(nn.Module):
    """Compact xresnet1d: a two-convolution stem (the second halves the rate to 50 Hz), four stages
    of basic blocks that each halve the rate again, concat-pool head."""

    def __init__(
        self,
        in_channels: int = 24,
        outputs: int = len(LABELS),
        widths: tuple[int, ...] = (64, 128, 192, 256),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        kernel: int = 7,
        stem: tuple[int, int] = (32, 64),
        squeeze_excite: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            _conv(in_channels, stem[0], 7),
            nn.BatchNorm1d(stem[0]),
            nn.ReLU(inplace=True),
            _conv(stem[0], stem[1], 5, stride=2),
            nn.BatchNorm1d(stem[1]),
            nn.ReLU(inplace=True),
        ]
        c_in = stem[1]
        for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for block in range(depth):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(c_in, width, stride, (kernel, kernel - 2), True, squeeze_excite))
                c_in = width
        self.body = nn.Sequential(*layers)
        self.head = ConcatPoolHead(c_in, outputs, dropout=dropout)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ResNet1dWang(nn.Module):
    """resnet1d_wang: a kernel-7 stem at full rate, three basic blocks of 128 channels (kernels 5
    and 3; the 2nd and 3rd halve the rate), concat-pool head with 128 hidden units."""

    def __init__(self, in_channels: int = 12, outputs: int = len(LABELS), dropout: float = 0.5) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(in_channels, 128, 7),
            nn.BatchNorm1d(128),
            nn.ReLU(inplace=True),
            BasicBlock(128, 128, 1, (5, 3), xresnet=False),
            BasicBlock(128, 128, 2, (5, 3), xresnet=False),
            BasicBlock(128, 128, 2, (5, 3), xresnet=False),
        )
        self.head = ConcatPoolHead(128, outputs, dropout=dropout)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _init_weights(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv1d | nn.Linear):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def build_model(architecture: str, outputs: int, **options: object) -> nn.Module:
    if architecture == "xresnet1d":
        return XResNet1d(outputs=outputs, **options)  # type: ignore[arg-type]
    if architecture == "resnet1d_wang":
        return ResNet1dWang(outputs=outputs, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown architecture {architecture!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
