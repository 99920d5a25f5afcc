"""Input and output: samplesheets, matrix readers, atomic writers and the output layout."""
