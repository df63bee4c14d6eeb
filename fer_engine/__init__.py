"""fer_engine: the UI-free core of the FER research dashboard.

Importable without Streamlit. Data flows one way: reader -> table of samples ->
preprocess -> model -> predictions table -> metrics/explanations -> page.
"""

__version__ = "0.1.0"
