"""Streamlit app for ISMS Assistant (run with `isms-assistant ui` or `streamlit run ui/app.py`)."""
