"""ECG machine learning as a plain library: readers, photo digitisation, measurements,
classification and recommendations. It imports nothing from the web side (no FastAPI, no
database); the API and the worker call its public functions."""
