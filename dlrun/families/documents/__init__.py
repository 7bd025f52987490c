"""Document classification (Lecture II): Reuters newswires, bag of words -> topic."""
