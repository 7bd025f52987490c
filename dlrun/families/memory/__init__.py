"""Attention (Lecture IV): the end-to-end memory network and an LSTM reader on bAbI."""
