"""Why a photo could not be read, as stable reason codes, and the retake hint the app shows for
each (msgids for the i18n catalogs; the API translates them)."""

from i18n import N_

NOT_AN_IMAGE = "not_an_image"
TOO_DARK = "too_dark"
TOO_BLURRY = "too_blurry"
TOO_SMALL = "too_small"
GLARE = "glare"
PAPER_CUT_OFF = "paper_cut_off"
NO_GRID = "no_grid"
NOT_AN_ECG = "not_an_ecg"
LAYOUT_NOT_RECOGNIZED = "layout_not_recognized"
TRACE_NOT_READABLE = "trace_not_readable"

RETAKE_HINTS: dict[str, str] = {
    NOT_AN_IMAGE: N_("This file is not a photo we can open. Please send a JPEG, PNG or HEIC photo."),
    TOO_DARK: N_("The photo is too dark. Please retake it in good, even light."),
    TOO_BLURRY: N_("The photo is blurry. Hold the phone steady, let it focus, and retake the photo."),
    TOO_SMALL: N_(
        "The ECG is too small in this photo to read. Move closer so the printout fills the photo,"
        " and send the photo at its full size."
    ),
    GLARE: N_("Light is reflecting off the paper over the ECG. Tilt the phone or move away from the lamp."),
    PAPER_CUT_OFF: N_("Part of the ECG is cut off. Please fit the whole printout in the photo."),
    NO_GRID: N_("We could not find the ECG grid. Please photograph the original paper printout, close up."),
    NOT_AN_ECG: N_("This does not look like an ECG printout. Please photograph your paper ECG."),
    LAYOUT_NOT_RECOGNIZED: N_(
        "We could not recognise the layout of this ECG. Please make sure the whole printout, with"
        " its calibration marks on the left, is in the photo."
    ),
    TRACE_NOT_READABLE: N_(
        "The ECG lines could not be read clearly. Please retake the photo straight from above, in even light."
    ),
}
