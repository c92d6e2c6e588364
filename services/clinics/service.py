"""Finding clinics: free-text search in every language and script, filters by service, city and
opening time, distance from the patient, and one clinic's details."""

import dataclasses
import math
import threading
import time
import unicodedata
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from i18n import CATALOG_LANGUAGES, N_, Language, pick_localized
from i18n.translit import latin_to_cyrillic
from services.clinics.models import Clinic, ClinicService
from services.clinics.repository import ClinicsRepository
from services.clinics.schemas import ClinicClosurePublic, ClinicDetail, ClinicPage, ClinicPublic
from services.db import utcnow
from services.errors import BadRequest, InvalidCursor, NotFound
from services.pagination import decode_cursor, encode_cursor
from services.settings import get_settings


class ClinicNotFound(NotFound):
    code = "clinic_not_found"
    detail = N_("No such clinic.")


class CoordinatesIncomplete(BadRequest):
    code = "coordinates_incomplete"
    title = N_("Incomplete coordinates")
    detail = N_("Give both lat and lon to sort clinics by distance, or neither.")


LOCALIZED_FIELDS = ("name", "city", "address", "description")
SEARCHED_FIELDS = ("name", "city", "address")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius
# The ways people type the oʻ/gʻ mark and the tutuq belgisi; the search ignores them all.
_SEARCH_IGNORED = str.maketrans("", "", "'ʻʼ‘’`")
# Punctuation a typed word may carry that the stored text does not ("Chilonzor," → chilonzor).
_WORD_EDGES = '.,;:!?()[]«»"„“”'
MAX_SEARCH_WORDS = 10
_SERVICE_ORDER = {service: index for index, service in enumerate(ClinicService)}


@dataclass(frozen=True)
class ClinicSearch:
    """What a patient looks for; every field given narrows the list, coordinates sort it."""

    text: str | None = None
    service: ClinicService | None = None
    city: str | None = None
    open_now: bool = False
    open_at: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


def normalize_search_text(text: str) -> str:
    """Text as the clinic search compares it: case-folded, ё read as е, the apostrophe variants
    dropped (so Fargʻona, Farg'ona and Fargona are one word) and whitespace collapsed."""
    folded = unicodedata.normalize("NFC", text).casefold().replace("ё", "е").translate(_SEARCH_IGNORED)
    return " ".join(folded.split())


def search_words(query: str) -> list[str]:
    """The distinct words of a query, normalised; a clinic matches when it contains every one."""
    words = (word.strip(_WORD_EDGES) for word in normalize_search_text(query).split())
    return list(dict.fromkeys(word for word in words if word))[:MAX_SEARCH_WORDS]


def build_search_text(values: Mapping[str, Any]) -> str:
    """The `search_text` of a clinic from its columns (name_en, city_ru, …): names, city and address
    in every language, and the Uzbek ones in Cyrillic script too."""
    parts = [values[f"{field}_{language}"] for field in SEARCHED_FIELDS for language in CATALOG_LANGUAGES]
    parts += [latin_to_cyrillic(values[f"{field}_{Language.uz}"]) for field in SEARCHED_FIELDS]
    return normalize_search_text(" ".join(parts))


def city_slug(city: str) -> str:
    """The value of the city filter: the English city name, lowercased, spaces as hyphens."""
    return "-".join(city.lower().split())


def distance_km(origin: Point, latitude: float, longitude: float) -> float:
    """Great-circle (haversine) distance on the mean Earth sphere."""
    phi1, phi2 = math.radians(origin.latitude), math.radians(latitude)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(longitude - origin.longitude) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _minute_of_day(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def local_date(moment: datetime, time_zone: str) -> date:
    return moment.astimezone(ZoneInfo(time_zone)).date()


def is_open_at(clinic: Clinic, moment: datetime, closed: Collection[tuple[uuid.UUID, date]]) -> bool:
    """Open at `moment` on the clinic's own clock: not a closed day (`closed` holds (clinic id, day)
    pairs), and inside one of that weekday's [start, end) intervals."""
    local = moment.astimezone(ZoneInfo(clinic.time_zone))
    if (clinic.id, local.date()) in closed:
        return False
    minute = local.hour * 60 + local.minute
    intervals = clinic.working_hours.get(WEEKDAYS[local.weekday()], [])
    return any(_minute_of_day(start) <= minute < _minute_of_day(end) for start, end in intervals)


@lru_cache(maxsize=8192)
def _localized(en: str, ru: str, uz: str, language: Language) -> str:
    # Cached: rendering Uzbek Cyrillic costs tens of microseconds per text, and lists repeat them.
    return pick_localized({Language.en: en, Language.ru: ru, Language.uz: uz}, language)


def _clinic_text(clinic: Clinic, field: str, language: Language) -> str:
    return _localized(
        getattr(clinic, f"{field}_en"),
        getattr(clinic, f"{field}_ru"),
        getattr(clinic, f"{field}_uz"),
        language,
    )


def clinic_public(
    clinic: Clinic,
    language: Language,
    *,
    services: Iterable[ClinicService] = (),
    open_now: bool = False,
    distance: float | None = None,
) -> ClinicPublic:
    return ClinicPublic(
        id=clinic.id,
        slug=clinic.slug,
        city_slug=clinic.city_slug,
        latitude=clinic.latitude,
        longitude=clinic.longitude,
        phone=clinic.phone,
        email=clinic.email,
        website=clinic.website,
        time_zone=clinic.time_zone,
        services=sorted(services, key=_SERVICE_ORDER.__getitem__),
        open_now=open_now,
        distance_km=distance,
        is_demo=clinic.is_demo,
        **{field: _clinic_text(clinic, field, language) for field in LOCALIZED_FIELDS},
    )


def _origin(latitude: float | None, longitude: float | None) -> Point | None:
    if latitude is None and longitude is None:
        return None
    if latitude is None or longitude is None:
        raise CoordinatesIncomplete()
    return Point(latitude, longitude)


def _cursor_key(cursor: str | None, by_distance: bool) -> tuple[float, str] | None:
    """The (distance, slug) sort key a cursor carries; distance is 0 when sorting by slug."""
    if cursor is None:
        return None
    if not by_distance:
        (slug,) = decode_cursor(cursor, 1)
        if not isinstance(slug, str):
            raise InvalidCursor()
        return 0.0, slug
    distance, slug = decode_cursor(cursor, 2)
    if isinstance(distance, bool) or not isinstance(distance, int | float) or not isinstance(slug, str):
        raise InvalidCursor()
    if not math.isfinite(distance):
        raise InvalidCursor()
    return float(distance), slug


def _days_seen(clinics: Iterable[Clinic], moments: Iterable[datetime]) -> set[date]:
    """The local dates `moments` fall on across the clinics' time zones (two or three at most)."""
    zones = {clinic.time_zone for clinic in clinics}
    return {local_date(moment, zone) for zone in zones for moment in moments}


@dataclass(frozen=True)
class Catalogue:
    """Every clinic (rows detached from any session), what each offers and the days each is
    closed, as of `version`. The clinic list is read on almost every app screen; serving it
    from memory takes one small query per request instead of three larger ones."""

    version: tuple[Any, ...]
    checked_at: float  # time.monotonic() of the last version check
    clinics: tuple[Clinic, ...]
    by_id: Mapping[uuid.UUID, Clinic]
    services: Mapping[uuid.UUID, list[ClinicService]]
    closed: frozenset[tuple[uuid.UUID, date]]


_catalogue: Catalogue | None = None
_catalogue_lock = threading.Lock()


def clinic_catalogue(session: Session) -> Catalogue:
    """The current catalogue: reused while the clinics' version is unchanged (checked at most
    every `clinic_catalogue_check_seconds`), else reloaded."""
    global _catalogue  # noqa: PLW0603 - one per process, replaced whole, never mutated
    current = _catalogue
    now = time.monotonic()
    if current is not None and now - current.checked_at < get_settings().clinic_catalogue_check_seconds:
        return current
    repository = ClinicsRepository(session)
    version = repository.catalogue_version()
    if current is not None and current.version == version:
        _catalogue = dataclasses.replace(current, checked_at=now)
        return _catalogue
    with _catalogue_lock:
        clinics = tuple(repository.all_clinics())
        ids = [clinic.id for clinic in clinics]
        services: dict[uuid.UUID, list[ClinicService]] = {clinic_id: [] for clinic_id in ids}
        for clinic_id, offered in repository.services_of(ids):
            services[clinic_id].append(offered)
        since = utcnow().date() - timedelta(days=2)  # covers "today" in any time zone
        closed = frozenset((c.clinic_id, c.day) for c in repository.closures_of(ids, from_day=since))
        for clinic in clinics:
            session.expunge(clinic)
        _catalogue = Catalogue(version, now, clinics, {c.id: c for c in clinics}, services, closed)
        return _catalogue


def _matches(
    clinic: Clinic, known: Catalogue, words: list[str], search: ClinicSearch, city: str | None
) -> bool:
    return (
        all(word in clinic.search_text for word in words)
        and (search.service is None or search.service in known.services[clinic.id])
        and (city is None or clinic.city_slug == city)
    )


def list_clinics(
    session: Session,
    language: Language,
    search: ClinicSearch,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
) -> ClinicPage:
    """One page of clinics matching `search`, by distance when it has coordinates, else by slug.
    Filters, opening times and distances are worked out over the in-memory catalogue."""
    now = now or utcnow()
    origin = _origin(search.latitude, search.longitude)
    after = _cursor_key(cursor, by_distance=origin is not None)
    moments = [moment for moment in (now if search.open_now else None, search.open_at) if moment is not None]
    known = clinic_catalogue(session)
    words = search_words(search.text or "")
    city = city_slug(search.city) if search.city else None
    candidates = [clinic for clinic in known.clinics if _matches(clinic, known, words, search, city)]
    if moments:
        candidates = [c for c in candidates if all(is_open_at(c, moment, known.closed) for moment in moments)]

    distances: dict[uuid.UUID, float] = {}
    if origin is not None:
        distances = {c.id: round(distance_km(origin, c.latitude, c.longitude), 1) for c in candidates}

    def sort_key(clinic: Clinic) -> tuple[float, str]:
        return distances.get(clinic.id, 0.0), clinic.slug

    ordered = sorted(candidates, key=sort_key)
    if after is not None:
        ordered = [clinic for clinic in ordered if sort_key(clinic) > after]
    page, more = ordered[:limit], len(ordered) > limit
    items = [
        clinic_public(
            clinic,
            language,
            services=known.services[clinic.id],
            open_now=is_open_at(clinic, now, known.closed),
            distance=distances.get(clinic.id),
        )
        for clinic in page
    ]
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = encode_cursor([distances[last.id], last.slug] if origin is not None else [last.slug])
    return ClinicPage(items=items, next_cursor=next_cursor)


def _reason(reason: Mapping[str, str], language: Language) -> str:
    return _localized(reason.get("en", ""), reason.get("ru", ""), reason.get("uz", ""), language)


def get_clinic(
    session: Session,
    clinic_id: uuid.UUID,
    language: Language,
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    now: datetime | None = None,
) -> ClinicDetail:
    """One clinic with its hours, closures from today on (its own calendar) and services."""
    now = now or utcnow()
    origin = _origin(latitude, longitude)
    repository = ClinicsRepository(session)
    clinic = repository.get(clinic_id)
    if clinic is None:
        raise ClinicNotFound()
    closures = repository.closures_of([clinic.id], from_day=local_date(now, clinic.time_zone))
    closed = {(closure.clinic_id, closure.day) for closure in closures}
    offers = [offered for _, offered in repository.services_of([clinic.id])]
    distance = None if origin is None else round(distance_km(origin, clinic.latitude, clinic.longitude), 1)
    summary = clinic_public(
        clinic, language, services=offers, open_now=is_open_at(clinic, now, closed), distance=distance
    )
    return ClinicDetail(
        **summary.model_dump(),
        working_hours=clinic.working_hours,
        closures=[ClinicClosurePublic(date=c.day, reason=_reason(c.reason, language)) for c in closures],
        languages=clinic.languages,
        accessibility=_clinic_text(clinic, "accessibility", language),
    )
