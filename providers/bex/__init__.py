"""The Booking Experts PMS: the source of journal transactions."""
