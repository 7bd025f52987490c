"""Word vectors (Lecture IV, Machine Reading): word2vec's skip-gram and CBOW with negative sampling."""
