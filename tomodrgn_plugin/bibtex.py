"""
@article{Powell2024,
title = "TomoDRGN: analyzing structural heterogeneity in cryo-electron sub-tomogram data",
author = "Powell, Barrett M. and Davis, Joseph H.",
journal = "Nature Methods",
volume = "21",
pages = "1525--1536",
year = "2024",
doi = "http://dx.doi.org/10.1038/s41592-024-02210-z"
}

@article{Zhong2021,
title = "CryoDRGN: reconstruction of heterogeneous cryo-EM structures using neural networks",
author = "Zhong, Ellen D. and Bepler, Tristan and Berger, Bonnie and Davis, Joseph H.",
journal = "Nature Methods",
volume = "18",
pages = "176--185",
year = "2021",
doi = "http://dx.doi.org/10.1038/s41592-020-01049-4"
}
"""
