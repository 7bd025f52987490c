"""Document classification (Lecture II's Reuters ladder), JAX-free: the task a declaration
names (dlrun.families.documents.task) and the sizes of Keras's reuters_mlp.py example. The
model is the Lecture II MLP (dlrun.families.mlp.config.MLPConfig)."""

from dlrun.core.config import Ref

DOCUMENT_CLASSIFICATION = Ref("dlrun.families.documents.task:DOCUMENT_CLASSIFICATION")
MAX_WORDS = 1_000  # columns of the bag of words: Keras's load_data(num_words=1000)
TOPICS = 46  # Keras's Reuters dataset keeps the 46 topics with at least 15 wires
VALIDATION_SPLIT = 0.1  # Keras's fit(validation_split=0.1): the last 10% of the training wires never train
KERAS_TRAIN_WIRES = 8_982  # Keras's x_train: the first 80% of the 11,228 wires
FIT_WIRES = int(KERAS_TRAIN_WIRES * (1 - VALIDATION_SPLIT))  # 8,083 wires train
