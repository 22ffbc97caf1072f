"""The test suite. Its folders are packages so pytest names every test module by its path
(``tests.unit.core.test_health``): two test files may share a basename in different folders, and
helpers import as ``tests.shared_data`` however pytest is launched."""
