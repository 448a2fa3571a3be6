"""Curation: quality signals, hard-negative mining, statistics, import and export."""
