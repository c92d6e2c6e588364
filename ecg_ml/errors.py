"""What ecg_ml says when it cannot read or cannot interpret an ECG: an exception with a stable
reason code (the API turns it into a translated message; nothing here knows languages)."""


class ECGError(Exception):
    code = "ecg_error"

    def __init__(self, code: str | None = None, detail: str = "") -> None:
        if code is not None:
            self.code = code
        self.detail = detail
        super().__init__(f"{self.code}: {detail}" if detail else self.code)


class UnreadableECG(ECGError):
    """The file is not an ECG we can read (unknown format, corrupt, inconsistent)."""

    code = "unreadable_ecg"


class NotInterpretable(ECGError):
    """The ECG was read, but is not fit to be interpreted (flat, too short, wrong units, ...)."""

    code = "not_interpretable"


class UnreadablePhoto(ECGError):
    """A photo of a paper ECG that cannot be digitised; `code` says why (too_dark, too_blurry,
    glare, paper_cut_off, no_grid, not_an_ecg, ...; ecg_ml.digitize.feedback lists them with the
    retake hint the app shows)."""

    code = "unreadable_photo"
