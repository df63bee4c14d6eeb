"""Recorded therapy sessions analysed as a study: the study table (:mod:`.manifest`) and
how much of each session each emotion took, with honest ranges (:mod:`.shares`)."""
