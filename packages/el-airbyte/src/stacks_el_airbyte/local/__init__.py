"""The local Airbyte engine (extra ``[local]``)."""
