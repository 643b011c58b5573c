"""Foresight: what a job will cost, take and look like before it runs; the limits it must fit."""
