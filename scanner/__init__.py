"""Image to readings: load and rasterize pages, find and decode the QR code in any
orientation, read the printed serial, register the page to its layout, read digits, times,
marks and signatures, each field with a value, a confidence and a reason.

Pure functions over images and typed inputs (`pipeline` composes them for one page). Must
not touch the database or write files; tesseract runs only through `scanner.tesseract`.
"""
