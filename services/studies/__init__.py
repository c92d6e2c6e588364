"""ECG studies: uploaded or pushed ECGs, their automated reading, reports and FHIR views."""
