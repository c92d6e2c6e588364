"""What the classifier outputs, by name: the five PTB-XL superclasses, then the twelve SCP
statements. Kept apart from the network (ecg_ml.model) so that code naming the labels does not
load torch."""

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
STATEMENTS = ("AFIB", "AFLT", "STACH", "SBRAD", "PVC", "PAC", "1AVB", "CLBBB", "CRBBB", "LVH", "IMI", "AMI")
LABELS = SUPERCLASSES + STATEMENTS
