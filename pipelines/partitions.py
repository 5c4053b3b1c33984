"""Fiscal years are partitions; they appear as files arrive (the sensor and `pifu run` add them).
Files whose title names no year are run in the `unknown` partition."""
import dagster as dg

fiscal_years = dg.DynamicPartitionsDefinition(name="fiscal_year")
